// The running system for the HTTP scenarios: the built services (dist/, what production runs) as
// child processes on free loopback ports, sharing a dedicated database, a random Redis key prefix
// and a storage volume under the bench's temp dir. Everything is undone by `destroy()`, and by
// Ctrl-C through the harness's interrupt cleanups.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findNginx, startLocalEdge } from '@scanner/edge/nginx';
import pg from 'pg';
import { createClient } from 'redis';
import { onInterrupt } from '../harness.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/scanner';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0';

export type ServiceName = 'upload-gateway' | 'status-query' | 'scanner-worker' | 'edge';

const ENTRY: Record<ServiceName, string> = {
  'upload-gateway': 'services/upload-gateway/dist/main.js',
  'status-query': 'services/status-query/dist/main.js',
  'scanner-worker': 'services/scanner-worker/dist/main.js',
  edge: 'infra/edge/dist/main.js',
};

/** A port the OS says is free right now (loopback only). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resident set (VmRSS) and its high-water mark (VmHWM) of a process, in bytes. */
export function processMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kib('VmRSS') * 1024, hwm: kib('VmHWM') * 1024 };
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds the whole machine has spent busy (every process and the kernel), from /proc/stat. */
export function machineCpuSeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
  // user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = ticks.reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
  return busy / 100;
}

/** BENCH_SERVICE_ENV: a JSON object of variables every service gets (to try a setting). */
function benchServiceEnv(): Record<string, string> {
  const raw = process.env.BENCH_SERVICE_ENV;
  if (!raw) return {};
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error('BENCH_SERVICE_ENV must be a JSON object of strings');
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
}

/**
 * One isolated system: database `scanner_bench_<random>` (created and migrated with the migrate
 * CLI), Redis prefix `bench:<random>:`, a storage volume and a log folder in `dir`.
 */
export class BenchEnvironment {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly storageRoot: string;
  readonly logDir: string;
  readonly db: pg.Pool;
  readonly #adminUrl: string;
  readonly databaseName: string;
  readonly #unregister: () => void;
  #redis: ReturnType<typeof createClient> | undefined;
  #destroyed = false;

  private constructor(readonly dir: string) {
    const id = randomBytes(5).toString('hex');
    this.databaseName = `scanner_bench_${id}`;
    const url = new URL(process.env.DATABASE_URL || DEFAULT_DATABASE_URL);
    url.pathname = `/${this.databaseName}`;
    this.databaseUrl = url.toString();
    url.pathname = '/postgres';
    this.#adminUrl = url.toString();
    this.redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
    this.prefix = `bench:${id}:`;
    this.storageRoot = join(dir, 'volume');
    this.logDir = join(dir, 'logs');
    this.db = new pg.Pool({ connectionString: this.databaseUrl, max: 3 });
    this.db.on('error', () => {});
    this.#unregister = onInterrupt(() => this.destroy());
  }

  static async create(dir: string): Promise<BenchEnvironment> {
    const env = new BenchEnvironment(dir);
    try {
      await mkdir(env.storageRoot, { recursive: true });
      await mkdir(env.logDir, { recursive: true });
      await promisify(execFile)(
        process.execPath,
        [join(repoRoot, 'packages/db/dist/migrate-cli.js'), '--create-database'],
        { env: { PATH: process.env.PATH, DATABASE_URL: env.databaseUrl } },
      );
    } catch (err) {
      await env.destroy();
      throw err;
    }
    return env;
  }

  /** A Redis client for the bench's own checks, connected on first use. */
  async redis(): Promise<ReturnType<typeof createClient>> {
    if (!this.#redis) {
      this.#redis = createClient({ url: this.redisUrl });
      this.#redis.on('error', () => {});
      await this.#redis.connect();
    }
    return this.#redis;
  }

  /** The environment every service process of this system gets. */
  serviceEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: this.redisUrl,
      REDIS_KEY_PREFIX: this.prefix,
      FILE_STORAGE_PATH: this.storageRoot,
      ...benchServiceEnv(),
      ...extra,
    };
  }

  /** Drops the database (even with connections open) and deletes every key under the prefix. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#unregister();
    await this.db.end().catch(() => {});
    await this.#redis?.close().catch(() => {});
    const admin = new pg.Client({ connectionString: this.#adminUrl });
    const redis = createClient({ url: this.redisUrl });
    redis.on('error', () => {});
    await Promise.allSettled([
      (async () => {
        await admin.connect();
        try {
          await admin.query(`DROP DATABASE IF EXISTS ${this.databaseName} WITH (FORCE)`);
        } finally {
          await admin.end();
        }
      })(),
      (async () => {
        await redis.connect();
        try {
          for await (const keys of redis.scanIterator({ MATCH: `${this.prefix}*`, COUNT: 1000 }))
            if (keys.length > 0) await redis.del(keys);
        } finally {
          await redis.close();
        }
      })(),
    ]);
  }
}

export interface ServiceProcess {
  name: ServiceName;
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  logPath: string;
  /** SIGTERM (a graceful stop, which also writes a --cpu-prof profile), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines the process logged, for failure messages. */
  logTail(lines?: number): Promise<string>;
}

let serial = 0;

/**
 * Starts `dist/main.js` of a service with its logs in the environment's log folder, and waits
 * for its readiness probe. `BENCH_CPU_PROF=<dir>` runs it under `node --cpu-prof`.
 */
export async function startService(
  env: BenchEnvironment,
  name: ServiceName,
  extraEnv: Record<string, string> = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  const logPath = join(env.logDir, `${name}-${++serial}.log`);
  const fd = openSync(logPath, 'a');
  const profileDir = process.env.BENCH_CPU_PROF;
  const nodeArgs = profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${serial}.cpuprofile`]
    : [];
  const child = spawn(process.execPath, [...nodeArgs, join(repoRoot, ENTRY[name])], {
    env: env.serviceEnv({ PORT: String(port), ...extraEnv }),
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const unregister = onInterrupt(() => {
    if (alive()) child.kill('SIGKILL');
  });
  const logTail = async (lines = 30) =>
    (await readFile(logPath, 'utf8').catch(() => ''))
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .join('\n');
  const service: ServiceProcess = {
    name,
    child,
    pid: child.pid as number,
    port,
    url: `http://127.0.0.1:${port}`,
    logPath,
    logTail,
    async stop(graceMs = 10_000) {
      if (alive()) child.kill('SIGTERM');
      const timer = setTimeout(() => alive() && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      unregister();
    },
  };
  const probe = name === 'edge' ? '/edge/healthz' : '/readyz';
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!alive()) {
      unregister();
      throw new Error(`${name} exited before it was ready:\n${await logTail()}`);
    }
    try {
      // Bounded: whatever holds the port may accept and never answer.
      const res = await fetch(`${service.url}${probe}`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return service;
    } catch {
      // not listening yet, or not answering
    }
    if (Date.now() > deadline) {
      await service.stop(1_000);
      throw new Error(`${name} was not ready within 30 s:\n${await logTail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The one base URL in front of the services, whichever implementation runs it. */
export interface Edge {
  kind: 'nginx' | 'node';
  url: string;
  /** CPU seconds used so far by every process of the edge (nginx: master and workers). */
  cpuSeconds(): number;
  stop(): Promise<void>;
  logTail(lines?: number): Promise<string>;
}

/**
 * BENCH_EDGE: `nginx` (infra/nginx/nginx.conf, the compose edge, as `npm start` runs it when nginx
 * is installed), `node` (infra/edge), or `auto` (default): nginx when installed. What `npm start`
 * would run is what is measured.
 */
export function benchEdgeKind(): 'nginx' | 'node' {
  const wanted = process.env.BENCH_EDGE ?? 'auto';
  if (wanted === 'node') return 'node';
  if (wanted === 'nginx' || wanted === 'auto') {
    if (findNginx()) return 'nginx';
    if (wanted === 'nginx') throw new Error('BENCH_EDGE=nginx but nginx is not installed');
    return 'node';
  }
  throw new Error(`BENCH_EDGE must be nginx, node or auto, not "${wanted}"`);
}

/** An edge (of the kind benchEdgeKind says) in front of the given upstreams (`host:port`). */
export async function startEdge(
  env: BenchEnvironment,
  upstreams: { gateway: string; status: string },
  serviceEnv: Record<string, string>,
): Promise<Edge> {
  const janitor = `127.0.0.1:${await freePort()}`;
  if (benchEdgeKind() === 'node') {
    const node = await startService(env, 'edge', {
      ...serviceEnv,
      UPLOAD_GATEWAY_URL: `http://${upstreams.gateway}`,
      STATUS_QUERY_URL: `http://${upstreams.status}`,
      JANITOR_URL: `http://${janitor}`,
    });
    return {
      kind: 'node',
      url: node.url,
      cpuSeconds: () => processCpuSeconds(node.pid),
      stop: () => node.stop(),
      logTail: node.logTail,
    };
  }
  const edge = await startLocalEdge({
    upstreams: { upload_gateway: upstreams.gateway, status_query: upstreams.status, janitor },
    host: '127.0.0.1',
    port: await freePort(),
  });
  const { nginx, url } = edge;
  const unregister = onInterrupt(() => edge.stop());
  const stop = async () => {
    await edge.stop();
    unregister();
  };
  return {
    kind: 'nginx',
    url,
    cpuSeconds: () => nginx.processIds().reduce((sum, pid) => sum + processCpuSeconds(pid), 0),
    stop,
    logTail: async (lines = 30) => nginx.output().trimEnd().split('\n').slice(-lines).join('\n'),
  };
}

/** The HTTP side of the system: edge → upload-gateway / status-query, plus N scanner-workers. */
export class Stack {
  readonly workers: ServiceProcess[] = [];

  private constructor(
    readonly env: BenchEnvironment,
    readonly gateway: ServiceProcess,
    readonly status: ServiceProcess,
    readonly edge: Edge,
    readonly serviceEnv: Record<string, string>,
  ) {}

  /** The one base URL clients use. */
  get url(): string {
    return this.edge.url;
  }

  static async start(env: BenchEnvironment, serviceEnv: Record<string, string> = {}) {
    const started: ServiceProcess[] = [];
    const track = async (name: ServiceName) => {
      const service = await startService(env, name, serviceEnv);
      started.push(service);
      return service;
    };
    try {
      const [gateway, status] = await Promise.all([track('upload-gateway'), track('status-query')]);
      const edge = await startEdge(
        env,
        { gateway: `127.0.0.1:${gateway.port}`, status: `127.0.0.1:${status.port}` },
        serviceEnv,
      );
      return new Stack(env, gateway, status, edge, serviceEnv);
    } catch (err) {
      await Promise.all(started.map((s) => s.stop(2_000)));
      throw err;
    }
  }

  /** Starts or stops scanner-workers until `count` run. */
  async setWorkers(count: number): Promise<void> {
    while (this.workers.length > count) await this.workers.pop()?.stop();
    const adding = Array.from({ length: count - this.workers.length }, () =>
      startService(this.env, 'scanner-worker', this.serviceEnv),
    );
    this.workers.push(...(await Promise.all(adding)));
  }

  async stop(): Promise<void> {
    await Promise.all([this.edge, ...this.workers, this.gateway, this.status].map((s) => s.stop()));
    this.workers.length = 0;
  }

  /** Log tails of every process, for a failure message. */
  async logs(): Promise<string> {
    const all = [this.gateway, this.status, ...this.workers];
    const tails = await Promise.all(all.map(async (s) => `--- ${s.name}\n${await s.logTail(15)}`));
    return [`--- edge (${this.edge.kind})\n${await this.edge.logTail(15)}`, ...tails].join('\n');
  }
}
