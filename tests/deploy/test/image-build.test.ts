// The images' build, replayed without a Docker engine: from the build context .dockerignore lets
// through, the Dockerfile's steps (support/docker.ts BUILD_STEPS, which dockerfile.test.ts holds
// the Dockerfile to) produce each package's /out; that folder is moved away from everything it was
// built from, as `COPY --from=builder /out/ /app/` does, and run as the container would run it:
// the migration against a fresh database, each service against the real Postgres and Redis, with
// the image's health check. The only departures: pnpm prefers the local store and metadata cache
// (--prefer-offline) to the registry, and no image layers are made. Not --offline: the legacy
// deploy resolves the package's production dependencies again, which needs registry metadata that
// a machine whose store was filled from the lockfile alone does not have cached.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createTestRedis, type TestRedis } from '@scanner/redis/testing';
import { freePort } from '@scanner/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyBuildContext, dropOutsideLinks } from './support/docker.js';
import {
  pnpmCommand,
  repoPath,
  run,
  SERVICE_NAMES,
  type ServiceName,
  sharedSetup,
} from './support/tools.js';

const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const BUILD_TIMEOUT_MS = 20 * 60_000;
const SHUTDOWN_TIMEOUT_MS = 5_000;

interface Image {
  pkg: string;
  /** The folder that becomes /app in the image. */
  app: string;
}

const work = mkdtempSync(join(tmpdir(), 'scanner-images-'));
const context = join(work, 'context');
const toolEnv = {
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  HOME: process.env.HOME ?? '/root',
  // Shared by the five builds, like the Dockerfile's turbo-cache mount: common packages compile once.
  TURBO_CACHE_DIR: join(work, 'turbo-cache'),
  TURBO_TELEMETRY_DISABLED: '1',
  DO_NOT_TRACK: '1',
  CI: 'true',
  // turbo runs several `pnpm run build` at once in a builder; each would read (and may rewrite)
  // pnpm's workspace state file, and one caught it half-written ("Unexpected end of JSON input").
  npm_config_verify_deps_before_run: 'false',
  pnpm_config_verify_deps_before_run: 'false',
};

function pnpm(args: string[], cwd: string): void {
  const { command, prefix } = pnpmCommand();
  run(command, [...prefix, ...args], { cwd, env: toolEnv });
}

/** pruner → builder → COPY --from=builder /out/ /app/, for one package. */
function buildImage(pkg: string): Image {
  const slug = pkg.replace(/[@/]/g, '_');
  const out = join(work, slug, 'out');
  const pruned = join(work, slug, 'pruned');
  const builder = join(work, slug, 'builder');
  const turbo = repoPath('node_modules', '.bin', 'turbo');
  if (!existsSync(turbo))
    throw new Error('turbo is not installed: run `npm test` (or `pnpm install`) first');

  // FROM base AS pruner: COPY . . && turbo prune "${PACKAGE}" --docker
  run(turbo, ['prune', pkg, '--docker', `--out-dir=${pruned}`], { cwd: context, env: toolEnv });
  // FROM base AS builder
  cpSync(join(pruned, 'json'), builder, { recursive: true });
  pnpm(['install', '--frozen-lockfile', '--offline'], builder);
  cpSync(join(pruned, 'full'), builder, { recursive: true });
  cpSync(join(context, 'tsconfig.base.json'), join(builder, 'tsconfig.base.json'));
  pnpm(['turbo', 'run', 'build', `--filter=${pkg}`, '--output-logs=errors-only'], builder);
  pnpm([`--filter=${pkg}`, '--prod', 'deploy', '--legacy', '--prefer-offline', out], builder);
  run('sh', ['-c', dropOutsideLinks(out)]);

  // COPY --from=builder /out/ /app/: symlinks copied as they are, and nothing left to lean on.
  const app = join(work, slug, 'app');
  cpSync(out, app, { recursive: true, verbatimSymlinks: true });
  for (const dir of [out, pruned, builder]) rmSync(dir, { recursive: true, force: true });
  return { pkg, app };
}

/** Symlinks under `root` that point outside it (they would dangle in the image). */
function escapingLinks(root: string): string[] {
  const bad: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        const target = resolve(dirname(full), readlinkSync(full));
        if (relative(root, target).startsWith('..') || !existsSync(target))
          bad.push(`${relative(root, full)} -> ${target}`);
      } else if (entry.isDirectory()) {
        walk(full);
      }
    }
  };
  walk(root);
  return bad;
}

interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | string>;
}

function startNode(app: string, script: string, env: Record<string, string>): Proc {
  // WORKDIR /app, CMD ["node", script], an environment with nothing but what the image sets.
  const child = spawn(process.execPath, [script], {
    cwd: app,
    env: { PATH: toolEnv.PATH, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  child.stderr?.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  const exited = new Promise<number | string>((res) =>
    child.once('exit', (code, signal) => res(code ?? String(signal))),
  );
  return { child, output: () => out, exited };
}

async function untilStatus(
  url: string,
  status: number,
  proc: Proc,
  timeoutMs = 30_000,
): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (proc.child.exitCode !== null)
      throw new Error(`exited (${proc.child.exitCode}) before ${url} answered:\n${proc.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.status === status) return res;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline)
      throw new Error(
        `${url} did not answer ${status} in ${timeoutMs} ms (last: ${last}):\n${proc.output()}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

function healthcheck(env: Record<string, string>): number | null {
  return run(process.execPath, [repoPath('infra', 'docker', 'healthcheck.mjs')], {
    env: { PATH: toolEnv.PATH, ...env },
    allowFailure: true,
  }).status;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

describe('images built as the Dockerfile builds them', () => {
  const images = new Map<string, Image>();
  const database = `scanner_deploy_${randomBytes(5).toString('hex')}`;
  let redis: TestRedis | undefined;
  let storage: string;

  // A failed build fails every test with its output (vitest would skip them after a failed hook).
  const built = sharedSetup<void>();

  beforeAll(async () => {
    await built.run(async () => {
      copyBuildContext(context);
      for (const pkg of ['@scanner/db', ...SERVICE_NAMES.map((s) => `@scanner/${s}`)]) {
        images.set(pkg, buildImage(pkg));
      }
      await withAdmin((admin) => admin.query(`CREATE DATABASE ${database}`));
      redis = await createTestRedis();
      storage = join(work, 'content');
      mkdirSync(storage);
    });
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await redis?.cleanup();
    await withAdmin((admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
    ).catch(() => {});
    rmSync(work, { recursive: true, force: true });
  });

  function image(pkg: string): Image {
    built.get();
    const found = images.get(pkg);
    if (!found) throw new Error(`${pkg} was not built`);
    return found;
  }

  it.each(['@scanner/db', ...SERVICE_NAMES.map((s) => `@scanner/${s}`)])(
    '%s: the deployed folder is self-contained (no link out of /app)',
    (pkg) => {
      const { app } = image(pkg);
      expect(escapingLinks(app)).toEqual([]);
      expect(lstatSync(join(app, 'node_modules')).isDirectory()).toBe(true);
    },
  );

  it('migrate: scanner-migrate applies the schema to a fresh database and exits 0', async () => {
    const proc = startNode(image('@scanner/db').app, 'dist/migrate-cli.js', {
      DATABASE_URL: dbUrl(database),
    });
    expect(await proc.exited, proc.output()).toBe(0);
    expect(proc.output()).toMatch(/schema up to date/);
  });

  it('migrate: exits non-zero when the database is unreachable', async () => {
    const proc = startNode(image('@scanner/db').app, 'dist/migrate-cli.js', {
      DATABASE_URL: dbUrl(`${database}_missing`),
    });
    expect(await proc.exited).not.toBe(0);
  });

  describe.each(SERVICE_NAMES)('%s', (name: ServiceName) => {
    it('serves probes and metrics, passes the image health check, drains on SIGTERM', async () => {
      const port = await freePort();
      const env = {
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        DATABASE_URL: dbUrl(database),
        REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
        REDIS_KEY_PREFIX: redis?.prefix ?? '',
        FILE_STORAGE_PATH: storage,
        ADMIN_TOKEN: 'deploy-test-admin-token-0123456789',
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      };
      const proc = startNode(image(`@scanner/${name}`).app, 'dist/main.js', env);
      try {
        const base = `http://127.0.0.1:${port}`;
        await untilStatus(`${base}/healthz`, 200, proc);
        await untilStatus(`${base}/readyz`, 200, proc);
        const metrics = await (await untilStatus(`${base}/metrics`, 200, proc)).text();
        expect(metrics).toMatch(/^# (HELP|TYPE) /m);
        expect(healthcheck({ PORT: String(port), HOST: '127.0.0.1' }), proc.output()).toBe(0);
      } finally {
        proc.child.kill('SIGTERM');
      }
      const code = await Promise.race([
        proc.exited,
        new Promise((r) => setTimeout(() => r('still running'), SHUTDOWN_TIMEOUT_MS + 5_000)),
      ]);
      if (code === 'still running') proc.child.kill('SIGKILL');
      expect(code, proc.output()).toBe(0);
      expect(healthcheck({ PORT: String(port), HOST: '127.0.0.1' })).toBe(1);
    }, 60_000);
  });
});
