import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentPath, countLetters } from '@scanner/core';
import { createDb, finishScan } from '@scanner/db';
import { cacheResults, closeRedis, connectRedis, createRedis, type Redis } from '@scanner/redis';
import { TEST_REDIS_URL } from '@scanner/redis/testing';
import { TcpProxy, waitFor } from '@scanner/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, type GatewayUnderTest, startGateway, tempFiles } from './gateway-context.js';
import { BOUNDARY, multipart, post, upload } from './http-client.js';

const sha = (b: string) => createHash('sha256').update(b).digest('hex');

/** New content accepted while Redis could not take its scan: stored, pending, left to the republisher. */
async function expectLeftForRepublisher(gw: GatewayUnderTest, content: string, jobId: string) {
  const file = await gw.ctx.db
    .selectFrom('files')
    .selectAll()
    .where('sha256', '=', sha(content))
    .executeTakeFirstOrThrow();
  expect(file).toMatchObject({ scan_status: 'pending', published_at: null });
  const job = await gw.ctx.db
    .selectFrom('jobs')
    .selectAll()
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  expect(job.status).toBe('pending');
  expect((await stat(contentPath(gw.ctx.storageRoot, sha(content)))).size).toBe(
    Buffer.byteLength(content),
  );
}

describe('Postgres unreachable', () => {
  it('answers 503 with Retry-After, records nothing and removes the temp file', async () => {
    const deadDb = createDb({
      url: 'postgresql://postgres@127.0.0.1:1/none',
      connectionTimeoutMs: 300,
    });
    const gw = await startGateway({}, { deps: { db: deadDb } });
    try {
      const res = await upload(gw.url, 'postgres is down', 'pg.txt');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({
        status: 503,
        type: expect.stringContaining('database-unavailable'),
      });
      expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
      await expect(
        stat(contentPath(gw.ctx.storageRoot, sha('postgres is down'))),
      ).rejects.toThrow();
      expect(await countRows(gw.ctx)).toEqual({ files: 0, jobs: 0 });
      expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    } finally {
      await deadDb.destroy();
      await gw.close();
    }
  });
});

describe('Redis unreachable', () => {
  it('still accepts the upload: the job is safe in Postgres as pending, marked for republishing', async () => {
    const deadRedis = createRedis({ url: 'redis://127.0.0.1:1' });
    const gw = await startGateway({}, { deps: { redis: deadRedis } });
    try {
      const res = await upload(gw.url, 'redis is down', 'r.txt');
      expect(res.status).toBe(202);
      expect(res.json()).toMatchObject({ status: 'pending', deduplication: false });
      await expectLeftForRepublisher(gw, 'redis is down', res.json().job_id as string);
    } finally {
      await closeRedis(deadRedis);
      await gw.close();
    }
  });
});

describe('Redis connected but not answering', () => {
  // The gateway's Redis goes through a proxy that the test stalls: the client stays connected
  // (isReady) and its commands are sent, but no reply comes, so only the gateway's own timeouts
  // can get an upload its answer. The test seeds and checks over its own direct connections.
  let proxy: TcpProxy;
  let redis: Redis;
  let gw: GatewayUnderTest;

  beforeAll(async () => {
    const target = new URL(TEST_REDIS_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    target.hostname = '127.0.0.1';
    target.port = String(await proxy.start());
    redis = createRedis({ url: target.toString() });
    expect(await connectRedis(redis)).toBe(true);
    gw = await startGateway({}, { deps: { redis } });
  });
  afterAll(async () => {
    // Resumed first: closing the client waits for the replies to what it sent while stalled.
    proxy?.resume();
    if (redis) await closeRedis(redis);
    await proxy?.cut();
    await gw?.close();
  });

  /** A counter of the gateway's /metrics (the sample whose labels include `labels`). */
  const counter = async (name: string, labels = '') => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const line = new RegExp(`^${name}\\{${labels}[^}]*\\} (\\d+)$`, 'm');
    return Number(text.match(line)?.[1] ?? 0);
  };
  const dedupHits = (level: string) => counter('scanner_dedup_hits_total', `level="${level}"`);

  /** One upload while stalled, and how long its answer took; the client still counts as connected. */
  async function timedUpload(content: string, filename: string) {
    const started = performance.now();
    const res = await upload(gw.url, content, filename);
    const tookMs = performance.now() - started;
    expect(redis.isReady).toBe(true);
    return { res, tookMs };
  }

  /** Content scanned before the stall, with its results in Postgres and in the results cache. */
  async function scannedAndCached(content: string) {
    expect((await upload(gw.url, content, 'first.txt')).status).toBe(202);
    const results = countLetters(Buffer.from(content));
    await finishScan(gw.ctx.db, sha(content), { results });
    await cacheResults(gw.ctx.redis, gw.ctx.keys, sha(content), results, 60);
    return results;
  }

  it('answers a duplicate of scanned content from Postgres once the cache read times out', async () => {
    const content = 'scanned, cached, then redis stalls';
    const results = await scannedAndCached(content);
    // Before the stall a duplicate is answered from the cache...
    const fromRedis = await dedupHits('redis');
    expect((await upload(gw.url, content, 'cached.txt')).status).toBe(200);
    expect(await dedupHits('redis')).toBe(fromRedis + 1);

    const fromPostgres = await dedupHits('postgres');
    proxy.stall();
    try {
      const { res, tookMs } = await timedUpload(content, 'stalled.txt');
      expect(res.status).toBe(200);
      expect(res.json()).toMatchObject({
        status: 'completed',
        deduplication: true,
        results,
        sha256: sha(content),
      });
      // ...during it, Postgres answers instead; a generous bound, only to prove it did not hang.
      expect(tookMs).toBeLessThan(5_000);
      expect(await dedupHits('postgres')).toBe(fromPostgres + 1);
      const job = await gw.ctx.db
        .selectFrom('jobs')
        .selectAll()
        .where('job_id', '=', res.json().job_id as string)
        .executeTakeFirstOrThrow();
      expect(job).toMatchObject({
        status: 'completed',
        sha256: sha(content),
        original_filename: 'stalled.txt',
      });
      expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
    } finally {
      proxy.resume();
    }
  });

  it('does not make every upload wait out the timeout while the stall lasts, and uses the cache again after it', async () => {
    const content = 'a long redis stall';
    const results = await scannedAndCached(content);
    proxy.stall();
    try {
      // Each one waiting for its own cache read to time out would take 20 × 500 ms at least; only
      // the first has to, while the read it sent is unanswered the others skip the cache.
      const started = performance.now();
      for (let i = 0; i < 20; i++) {
        const res = await upload(gw.url, content, `during-${i}.txt`);
        expect(res.status).toBe(200);
        expect(res.json()).toMatchObject({ deduplication: true, results });
      }
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(redis.isReady).toBe(true);
    } finally {
      proxy.resume();
    }
    const fromRedis = await dedupHits('redis');
    await waitFor(
      async () =>
        (await upload(gw.url, content, 'after.txt')).status === 200 &&
        (await dedupHits('redis')) > fromRedis,
      { timeoutMs: 5_000, message: 'a duplicate answered from the cache after the stall' },
    );
  });

  it('accepts new content as pending, marked for republishing, while Redis owes an answer', async () => {
    const content = 'new content while redis stalls';
    // Counted from here: an earlier test's upload may have met the guard while a held reply was
    // still on its way after resume().
    const publishFailures = await counter('scanner_queue_publish_failures_total');
    proxy.stall();
    try {
      const { res, tookMs } = await timedUpload(content, 'new.txt');
      expect(res.status).toBe(202);
      expect(res.json()).toMatchObject({ status: 'pending', deduplication: false });
      expect(tookMs).toBeLessThan(5_000);
      await expectLeftForRepublisher(gw, content, res.json().job_id as string);
      expect(await counter('scanner_queue_publish_failures_total')).toBe(publishFailures + 1);
    } finally {
      proxy.resume();
    }
    // Nothing was sent behind the unanswered cache read: the scan is requested once, by the
    // republisher, not also by a held XADD landing late.
    const entries = await gw.ctx.redis.xRange(gw.ctx.keys.scanStream, '-', '+');
    expect(entries.some((e) => e.message.sha256 === sha(content))).toBe(false);
  });
  it('does not make new uploads wait for their own XADD while an earlier one is unanswered', async () => {
    proxy.stall();
    const contents = Array.from({ length: 20 }, (_, i) => `new while stalled ${i}`);
    try {
      // Each waiting out its own XADD deadline would take 20 × 500 ms at least.
      const started = performance.now();
      for (const content of contents) {
        const res = await upload(gw.url, content, 'new.txt');
        expect(res.status).toBe(202);
        expect(res.json()).toMatchObject({ status: 'pending', deduplication: false });
      }
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(redis.isReady).toBe(true);
      // Every one of them is left to the republisher.
      const rows = await gw.ctx.db
        .selectFrom('files')
        .select(['sha256', 'published_at'])
        .where(
          'sha256',
          'in',
          contents.map((c) => sha(c)),
        )
        .execute();
      expect(rows).toHaveLength(contents.length);
      expect(rows.every((r) => r.published_at === null)).toBe(true);
    } finally {
      proxy.resume();
    }
  });
});

describe('storage at the emergency tier (a real, small tmpfs)', () => {
  let mountPoint: string;
  beforeAll(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), 'scanner-tmpfs-'));
    // Needs root, as CI has; a failure here must fail the test, not skip it.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]);
  });
  afterAll(async () => {
    if (mountPoint) {
      execFileSync('umount', ['-l', mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });

  it('refuses uploads with 507 before reading the body, and accepts them again once space is freed', async () => {
    const gw = await startGateway({}, { storageRoot: mountPoint });
    try {
      const filler = join(mountPoint, 'filler.bin');
      await writeFile(filler, Buffer.alloc(Math.floor(3.9 * 1024 * 1024)));
      const refused = await upload(gw.url, 'no room', 'full.txt');
      expect(refused.status).toBe(507);
      expect(refused.headers['retry-after']).toBeDefined();
      expect(refused.json()).toMatchObject({
        status: 507,
        type: expect.stringContaining('storage-full'),
      });
      expect(await tempFiles(mountPoint)).toEqual([]);
      expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);

      await rm(filler);
      const accepted = await waitFor(
        async () => {
          const res = await upload(gw.url, 'room again', 'ok.txt');
          return res.status === 202 ? res : undefined;
        },
        { timeoutMs: 5_000, intervalMs: 200, message: 'uploads accepted after space was freed' },
      );
      expect(accepted.json().status).toBe('pending');
      expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});

describe('file part without a filename', () => {
  it('is refused with 400', async () => {
    const gw = await startGateway();
    try {
      const body = multipart([
        { name: 'file', content: 'x', contentType: 'application/octet-stream' },
      ]);
      const res = await post(`${gw.url}/api/v1/files`, body, {
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      });
      expect(res.status).toBe(400);
      expect(res.json().type).toContain('missing-filename');
    } finally {
      await gw.close();
    }
  });
});
