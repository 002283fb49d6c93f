import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  blobExists,
  DAY_MS,
  fileRow,
  seedContent,
  silentLog,
  type TestJanitor,
  testJanitor,
  testSettings,
  useJanitorFixture,
} from '../test/support.js';
import { tokenMatches } from './admin-routes.js';
import { createApp } from './app.js';

const TOKEN = 'correct-horse-battery-staple';

const fx = useJanitorFixture({ resetEachTest: true });
const servers: Server[] = [];

afterAll(async () => {
  await Promise.allSettled(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function startApp(adminToken: string | null) {
  const tj: TestJanitor = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root));
  const lifecycle = { shuttingDown: false };
  const app = createApp({
    db: fx.t.db,
    log: silentLog,
    registry: tj.registry,
    lifecycle,
    janitor: tj.janitor,
    adminToken,
  });
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { ...tj, lifecycle, base };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('POST /admin/cleanup', () => {
  it('does not exist when no ADMIN_TOKEN is configured', async () => {
    const { base } = await startApp(null);
    const res = await fetch(`${base}/admin/cleanup`, { method: 'POST', headers: bearer(TOKEN) });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it.each([
    ['no Authorization header', {}, /^Bearer realm=/],
    ['a wrong token', bearer('not-the-token-at-all'), /error="invalid_token"/],
    ['a prefix of the token', bearer(TOKEN.slice(0, 10)), /error="invalid_token"/],
    [
      'another scheme',
      { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      /^Bearer/,
    ],
  ])('answers 401 problem+json with WWW-Authenticate for %s', async (_name, headers, challenge) => {
    const { base } = await startApp(TOKEN);
    const sha = await seedContent(fx.t.db, fx.volume.root, 'completed', 30 * DAY_MS);
    const res = await fetch(`${base}/admin/cleanup`, { method: 'POST', headers });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(challenge);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ status: 401, title: 'Unauthorized' });
    expect(await blobExists(fx.volume.root, sha)).toBe(true);
  });

  it('runs a pass with the right token and reports what it did', async () => {
    const { base } = await startApp(TOKEN);
    const sha = await seedContent(fx.t.db, fx.volume.root, 'completed', 30 * DAY_MS);
    const res = await fetch(`${base}/admin/cleanup`, { method: 'POST', headers: bearer(TOKEN) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      usage: unknown;
      duration_seconds: number;
      started_at: string;
    };
    expect(body).toMatchObject({
      outcome: 'completed',
      dry_run: false,
      tier: 'healthy',
      retention_seconds: 7 * 24 * 3600,
      files_deleted: 1,
      bytes_deleted: 1000,
      temp_files_removed: 0,
      orphan_files_removed: 0,
      jobs_expired: 0,
    });
    expect(body.usage).toMatchObject({
      total_bytes: 8 * 1024 * 1024,
      used_ratio: expect.any(Number),
    });
    expect(body.duration_seconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(body.started_at)).not.toBeNaN();
    expect(await blobExists(fx.volume.root, sha)).toBe(false);
    expect((await fileRow(fx.t.db, sha)).blob_present).toBe(false);
  });

  it('with ?dry_run=true reports what would go and deletes nothing', async () => {
    const { base } = await startApp(TOKEN);
    const sha = await seedContent(fx.t.db, fx.volume.root, 'completed', 30 * DAY_MS);
    const res = await fetch(`${base}/admin/cleanup?dry_run=true`, {
      method: 'POST',
      headers: bearer(TOKEN),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      dry_run: true,
      files_deleted: 1,
      bytes_deleted: 1000,
      usage_after: null,
    });
    expect(await blobExists(fx.volume.root, sha)).toBe(true);
    expect((await fileRow(fx.t.db, sha)).blob_present).toBe(true);
  });

  it('rejects a dry_run that is neither true nor false', async () => {
    const { base } = await startApp(TOKEN);
    const res = await fetch(`${base}/admin/cleanup?dry_run=perhaps`, {
      method: 'POST',
      headers: bearer(TOKEN),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('answers 503 once the janitor is shutting down', async () => {
    const { base, janitor } = await startApp(TOKEN);
    await janitor.stop();
    const res = await fetch(`${base}/admin/cleanup`, { method: 'POST', headers: bearer(TOKEN) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });
});

describe('probes and metrics', () => {
  it('serves /healthz, /readyz (503 while shutting down) and /metrics', async () => {
    const { base, lifecycle, janitor } = await startApp(TOKEN);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { database: true } });

    await janitor.runPass({ trigger: 'schedule' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'scanner_storage_used_ratio',
      'scanner_storage_tier{tier="healthy"} 1',
      'scanner_janitor_files_deleted_total',
      'scanner_janitor_bytes_deleted_total',
      'scanner_janitor_jobs_expired_total',
      'scanner_janitor_temp_files_removed_total',
      'scanner_janitor_pass_duration_seconds_bucket',
      'scanner_janitor_passes_total{outcome="completed"} 1',
    ]) {
      expect(metrics).toContain(name);
    }

    lifecycle.shuttingDown = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
  });
});

describe('tokenMatches', () => {
  it('matches only the exact token', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(tokenMatches('', TOKEN)).toBe(false);
  });
});
