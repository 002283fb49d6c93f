import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createServiceTestContext, type ServiceTestContext } from '@scanner/runtime/testing';
import { freePort, startProcess, waitFor, waitForHttp } from '@scanner/testing';
import { describe, expect, it } from 'vitest';
import { uploadFile } from './stack.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('npm start', () => {
  it('says exactly what to run and exits non-zero when Postgres and Redis are unreachable', () => {
    const res = spawnSync(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/scanner',
        REDIS_URL: 'redis://127.0.0.1:2/0',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('PostgreSQL is not reachable at 127.0.0.1:1');
    expect(res.stderr).toContain('pg_ctlcluster --skip-systemctl-redirect');
    expect(res.stderr).toContain('Redis is not reachable at 127.0.0.1:2');
    expect(res.stderr).toContain('redis-server --daemonize yes');
  });
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A free port for each service (and the edge, unless it is given), as npm start's variables. */
async function stackPorts(edgePort?: number): Promise<Record<string, number>> {
  return {
    EDGE_PORT: edgePort ?? (await freePort()),
    UPLOAD_GATEWAY_PORT: await freePort(),
    STATUS_QUERY_PORT: await freePort(),
    SCANNER_WORKER_PORT: await freePort(),
    JANITOR_PORT: await freePort(),
  };
}

/** `npm start` on the test's database, Redis prefix and volume, on these ports. */
function npmStart(
  ctx: ServiceTestContext,
  ports: Record<string, number>,
  env: Record<string, string>,
): ReturnType<typeof startProcess> {
  return startProcess(
    'npm start',
    process.execPath,
    [join(ROOT, 'scripts', 'start.mjs')],
    ctx.env({
      LOG_LEVEL: 'warn',
      ...env,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    }),
  );
}

// The whole stack as `npm start` runs it, on its own database, Redis prefix, volume and ports,
// with each edge it can run: the compose nginx.conf (chosen by default when nginx is installed)
// and the node edge.
describe.each(['nginx', 'node'])('npm start with EDGE=%s', (edge) => {
  it('serves the API on one base URL, scans an upload, and stops every process on SIGTERM', async () => {
    const ctx = await createServiceTestContext('upload-gateway');
    const ports = await stackPorts();
    const start = npmStart(ctx, ports, { EDGE: edge });
    const base = `http://127.0.0.1:${ports.EDGE_PORT}`;
    try {
      await waitForHttp(`${base}/health`, 120_000, start);
      await waitFor(() => start.output().includes(`scanner is up on ${base} (edge: ${edge}`), {
        timeoutMs: 10_000,
      });

      const { res, body } = await uploadFile(base, 'Hello, World!', 'hello.txt');
      expect(res.status).toBe(202);
      const jobUrl = `${base}${res.headers.get('location')}`;
      const done = await waitFor(
        async () => {
          const job = (await (await fetch(jobUrl)).json()) as Record<string, unknown>;
          return job.status === 'completed' ? job : undefined;
        },
        { timeoutMs: 30_000 },
      );
      expect(done).toMatchObject({ job_id: body.job_id, original_filename: 'hello.txt' });
      expect(done.results).toMatchObject({ H: 1, E: 1, L: 3, O: 2, W: 1, R: 1, D: 1, A: 0 });

      expect(await start.stop(30_000)).toBe(0);
      for (const port of Object.values(ports)) expect(await refused(port)).toBe(true);
    } finally {
      // SIGTERM first, even after a failure: start.mjs stops its children; a SIGKILL would leave
      // them running (and listening) after the test.
      await start.stop(30_000);
      await ctx.cleanup();
    }
  }, 180_000);
});

describe('npm start with its edge port taken', () => {
  it('says nginx could not start and why, stops the services and exits 1', async () => {
    const ctx = await createServiceTestContext('upload-gateway');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const edgePort = (taken.address() as AddressInfo).port;
    const ports = await stackPorts(edgePort);
    const start = npmStart(ctx, ports, { EDGE: 'nginx' });
    try {
      expect(await start.exited).toBe(1);
      expect(start.output()).toContain('Address already in use');
      expect(start.output()).toContain('npm start: edge (nginx) did not start');
      for (const port of Object.values(ports))
        if (port !== edgePort) expect(await refused(port)).toBe(true);
    } finally {
      await start.stop(30_000);
      taken.close();
      await ctx.cleanup();
    }
  }, 180_000);
});

describe('npm start stopped while nginx is coming up', () => {
  it('stops nginx too, not only the services that were already its children', async () => {
    const ctx = await createServiceTestContext('upload-gateway');
    // An "nginx" that starts and never serves: start.mjs is still waiting for it when it is told
    // to stop. It records its pid, so the test can tell whether it outlived npm start.
    const fake = await mkdtemp(join(tmpdir(), 'fake-nginx-'));
    const pidFile = join(fake, 'pid');
    await writeFile(join(fake, 'nginx'), `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 300\n`, {
      mode: 0o755,
    });
    const ports = await stackPorts();
    const start = npmStart(ctx, ports, {
      PATH: `${fake}${delimiter}${process.env.PATH}`,
      EDGE: 'nginx',
    });
    let pid = 0;
    try {
      pid = await waitFor(
        async () => Number(await readFile(pidFile, 'utf8').catch(() => '')) || undefined,
        { timeoutMs: 60_000 },
      );
      expect(await start.stop(30_000)).toBe(0);
      expect(alive(pid)).toBe(false);
      for (const port of Object.values(ports)) expect(await refused(port)).toBe(true);
    } finally {
      await start.stop(30_000);
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
      await rm(fake, { recursive: true, force: true });
      await ctx.cleanup();
    }
  }, 180_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
