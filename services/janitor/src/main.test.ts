// The real process: main.ts under tsx, configured only through the environment.
import { fileURLToPath } from 'node:url';
import { TEST_REDIS_URL } from '@scanner/redis/testing';
import {
  freePort,
  type ServiceProcess,
  startProcess,
  waitFor,
  waitForHttp,
} from '@scanner/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { blobExists, DAY_MS, fileRow, seedContent, useJanitorFixture } from '../test/support.js';

const TOKEN = 'process-test-admin-token';
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

const fx = useJanitorFixture();
let proc: ServiceProcess | undefined;

afterAll(async () => {
  await proc?.kill();
});

describe('janitor process', () => {
  it('cleans periodically, answers over HTTP and exits 0 on SIGTERM', async () => {
    const old = await seedContent(fx.t.db, fx.volume.root, 'completed', 30 * DAY_MS);
    const port = await freePort();
    proc = startProcess(
      'janitor',
      process.execPath,
      ['--conditions=@scanner/source', '--import', 'tsx', MAIN],
      {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: fx.t.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: fx.r.prefix,
        FILE_STORAGE_PATH: fx.volume.root,
        ADMIN_TOKEN: TOKEN,
        CLEANUP_INTERVAL_SECONDS: '0.2',
        SHUTDOWN_TIMEOUT_MS: '10000',
      },
    );
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/readyz`, 30_000, proc);

    // The loop runs without being asked.
    await waitFor(async () => (await fileRow(fx.t.db, old)).blob_present === false, {
      message: 'a scheduled pass',
    });
    expect(await blobExists(fx.volume.root, old)).toBe(false);

    const unauthorized = await fetch(`${base}/admin/cleanup`, { method: 'POST' });
    expect(unauthorized.status).toBe(401);
    const res = await fetch(`${base}/admin/cleanup?dry_run=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ dry_run: true, tier: 'healthy' });
    // Scheduled passes and this one may overlap: either ran or reported the other holding the lock.
    const run = await fetch(`${base}/admin/cleanup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(run.status).toBe(200);
    expect(['completed', 'skipped']).toContain(((await run.json()) as { outcome: string }).outcome);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/scanner_janitor_files_deleted_total\{service="janitor"\} 1/);

    const code = await proc.stop(15_000);
    expect(code, proc.output()).toBe(0);
    const lines = proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; service: string });
    expect(lines.some((l) => l.msg === 'cleanup pass finished' && l.service === 'janitor')).toBe(
      true,
    );
    expect(lines.some((l) => l.msg === 'shutdown complete')).toBe(true);
  });
});
