// The compose stack's edge (infra/nginx/nginx.conf) run outside Docker: `npm start` and the bench
// use it when nginx is installed, and the deployment tests run it against stub services. Only
// addresses, temp paths and the access log change; every route, header and error page is the
// file as shipped.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// src/ and dist/ sit at the same depth: infra/edge/{src,dist}.
export const NGINX_CONF = join(import.meta.dirname, '..', '..', 'nginx', 'nginx.conf');

/** The nginx binary on PATH or in the sbin folders a non-root PATH lacks; null when none. */
export function findNginx(path = process.env.PATH ?? ''): string | null {
  const dirs = [...path.split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** `upstream name { server host:port; … }` blocks of an nginx.conf. */
export function nginxUpstreams(conf: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of conf.matchAll(/upstream\s+([A-Za-z0-9_]+)\s*\{([^}]*)\}/g)) {
    const servers = [...(m[2] ?? '').matchAll(/^\s*server\s+([^\s;]+)/gm)].map((s) => s[1] ?? '');
    out.set(m[1] ?? '', servers);
  }
  return out;
}

export interface LocalNginxOptions {
  /** Each upstream block of the file by name, and the `host:port` it points at here. */
  upstreams: Record<string, string>;
  port: number;
  /** Listen on this address only; all addresses (as `listen 8000` in the file) when absent. */
  host?: string;
  /**
   * Where the per-request JSON lines go. The shipped file writes them to /dev/stdout, which nginx
   * cannot reopen when its stdout is a socket (node's pipes are); off by default, as the node edge
   * logs no line per request either.
   */
  accessLog?: string | null;
}

export interface LocalNginxConf {
  /** Scratch folder holding the file, the temp paths, the pid file. */
  dir: string;
  file: string;
  cleanup(): void;
}

/** An IPv6 address in brackets (`[::1]`), as nginx and URLs want it next to a port. */
const bracketed = (host: string) => (host.includes(':') ? `[${host}]` : host);

/** The edge's nginx.conf with local addresses, written to a fresh scratch folder. */
export function localNginxConf(opts: LocalNginxOptions, source = NGINX_CONF): LocalNginxConf {
  let conf = readFileSync(source, 'utf8');
  const upstreams = nginxUpstreams(conf);
  const missing = [...upstreams.keys()].filter((u) => opts.upstreams[u] === undefined);
  if (missing.length > 0)
    throw new Error(`no local address given for upstream ${missing.join(', ')}`);
  const unknown = Object.keys(opts.upstreams).filter((u) => !upstreams.has(u));
  if (unknown.length > 0) throw new Error(`nginx.conf has no upstream ${unknown.join(', ')}`);
  for (const [name, servers] of upstreams) {
    // Compose service names do not resolve outside Docker, and nginx resolves them at start.
    for (const server of servers)
      conf = conf.replace(`server ${server};`, `server ${opts.upstreams[name]};`);
  }

  const listens = conf.match(/listen\s+8000\b/g) ?? [];
  if (listens.length !== 1) throw new Error(`expected one "listen 8000", found ${listens.length}`);
  conf = conf.replace(
    /listen\s+8000\b/,
    `listen ${opts.host ? `${bracketed(opts.host)}:` : ''}${opts.port}`,
  );

  const accessLogs = conf.match(/access_log \/dev\/stdout edge_json;/g) ?? [];
  if (accessLogs.length !== 1) throw new Error('expected one "access_log /dev/stdout edge_json;"');
  conf = conf.replace(
    'access_log /dev/stdout edge_json;',
    opts.accessLog ? `access_log ${opts.accessLog} edge_json;` : 'access_log off;',
  );

  const dir = mkdtempSync(join(tmpdir(), 'scanner-edge-'));
  // The compiled-in temp paths are root-owned folders that may not exist on this machine.
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
  for (const t of temp) mkdirSync(join(dir, t));
  const http = temp.map((t) => `    ${t}_temp_path ${join(dir, t)};`);
  conf = conf.replace(/^http\s*\{/m, `http {\n${http.join('\n')}\n`);
  // Started as root, nginx would run its workers as `nobody`, who cannot use the scratch folder
  // (mode 0700). The services of a local stack run as the same user; so do the workers.
  if (process.getuid?.() === 0) conf = `user root;\n${conf}`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  return { dir, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// The file has no `pid` (the official image's default applies there) and nginx must stay in the
// foreground, a child of whoever started it.
const globals = (conf: LocalNginxConf) => `pid ${join(conf.dir, 'nginx.pid')}; daemon off;`;

/** `nginx -t` on the file; returns nginx's report, throws with it when the test fails. */
export function nginxTest(binary: string, conf: LocalNginxConf): string {
  // A file, not a pipe, for the same reason as in startNginx: -t opens the logs too.
  const reportFile = join(conf.dir, 'nginx-t.log');
  const fd = openSync(reportFile, 'w');
  try {
    const res = spawnSync(
      binary,
      ['-t', '-e', 'stderr', '-p', conf.dir, '-c', conf.file, '-g', globals(conf)],
      { stdio: ['ignore', fd, fd] },
    );
    const report = readFileSync(reportFile, 'utf8');
    if (res.status !== 0) throw new Error(`nginx -t failed (exit ${res.status}):\n${report}`);
    return report;
  } finally {
    closeSync(fd);
  }
}

export interface RunningNginx {
  /** The master process. */
  child: ChildProcess;
  /** The master's pid and its workers' (for CPU accounting). */
  processIds(): number[];
  /** What nginx wrote (its errors), when it was started with `output: 'file'`. */
  output(): string;
  /** Graceful stop (SIGQUIT: open requests finish), then SIGKILL of every process. */
  stop(graceMs?: number): Promise<void>;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts nginx in the foreground on the file. `output: 'file'` (default) collects what it writes in
 * the scratch folder: a file, not a pipe, since node's pipes are sockets, which nginx cannot reopen
 * as /dev/stdout (the shipped access_log target). `'inherit'` shares this process's stdout and
 * stderr (for `npm start`, whose access log is off or a file).
 */
export function startNginx(
  binary: string,
  conf: LocalNginxConf,
  opts: { output?: 'file' | 'inherit' } = {},
): RunningNginx {
  const logFile = join(conf.dir, 'output.log');
  const fd = opts.output === 'inherit' ? 'inherit' : openSync(logFile, 'a');
  const child = spawn(
    binary,
    ['-e', 'stderr', '-p', conf.dir, '-c', conf.file, '-g', globals(conf)],
    {
      stdio: ['ignore', fd, fd],
    },
  );
  if (typeof fd === 'number') closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const processIds = () => (child.pid && alive() ? [child.pid, ...childrenOf(child.pid)] : []);
  return {
    child,
    processIds,
    output: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    async stop(graceMs = 5_000) {
      // Workers outlive a killed master: remember them before anything is signalled.
      const all = processIds();
      if (alive()) child.kill('SIGQUIT');
      const timer = setTimeout(() => {
        for (const pid of all) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Waits until nginx answers its own `/edge/healthz` at `url`; throws with what nginx wrote when it
 * exits first or is not serving within `timeoutMs`, and as soon as `signal` aborts (whoever started
 * it is stopping: it must not be told nginx is serving after that).
 */
export async function waitUntilServing(
  nginx: RunningNginx,
  url: string,
  timeoutMs = 10_000,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let serving = false;
    try {
      // Bounded: whatever else holds the port may accept and never answer.
      const res = await fetch(`${url}/edge/healthz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      serving = res.status === 200;
    } catch {
      // not listening yet, or not answering
    }
    if (signal?.aborted) throw new Error(`stopped before nginx was serving ${url}`);
    if (serving) return;
    if (nginx.child.exitCode !== null || nginx.child.signalCode !== null)
      throw new Error(`nginx exited before serving ${url}:\n${nginx.output()}`);
    if (Date.now() > deadline)
      throw new Error(`nginx was not serving ${url} within ${timeoutMs} ms:\n${nginx.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface LocalEdge {
  /** Its base URL (`http://host:port`, 127.0.0.1 when listening on all addresses). */
  url: string;
  nginx: RunningNginx;
  conf: LocalNginxConf;
  /** Stops nginx and removes its scratch folder. */
  stop(): Promise<void>;
}

/**
 * The local edge, serving: `localNginxConf`, `startNginx` and `waitUntilServing` in one, with the
 * scratch folder removed again when it cannot start. The nginx found on the machine unless told
 * which; none installed is an error saying what to install.
 */
export async function startLocalEdge(
  opts: LocalNginxOptions & {
    binary?: string;
    output?: 'file' | 'inherit';
    timeoutMs?: number;
    /** Aborting it while nginx is coming up stops nginx, and the promise rejects. */
    signal?: AbortSignal;
  },
): Promise<LocalEdge> {
  const binary = opts.binary ?? findNginx();
  if (!binary) throw new Error('nginx is not installed (apt-get install -y nginx)');
  const conf = localNginxConf(opts);
  const nginx = startNginx(binary, conf, { output: opts.output });
  const stop = async () => {
    await nginx.stop();
    conf.cleanup();
  };
  const host = !opts.host || opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
  const url = `http://${bracketed(host)}:${opts.port}`;
  try {
    await waitUntilServing(nginx, url, opts.timeoutMs, opts.signal);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, nginx, conf, stop };
}
