import { randomUUID } from 'node:crypto';
import { countLetters } from '@scanner/core';
import { createDb, finishScan, recordNewContent } from '@scanner/db';
import { createRegistry } from '@scanner/http-kit';
import { closeRedis, connectRedis, createRedis } from '@scanner/redis';
import { TEST_REDIS_URL } from '@scanner/redis/testing';
import {
  createServiceTestContext,
  type ServiceTestContext,
  serveForTest,
} from '@scanner/runtime/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type StatusQueryDeps } from '../src/app.js';

let ctx: ServiceTestContext;
let url: string;
let close: () => Promise<void>;

function depsFor(c: ServiceTestContext, overrides: Partial<StatusQueryDeps> = {}): StatusQueryDeps {
  return {
    ...c,
    storageRoot: c.storageRoot,
    tierPolicy: c.config.storage.tierPolicy,
    jobCacheTtlSeconds: c.config.cache.jobTtlSeconds,
    // Each app registers its metrics; a registry per app keeps several apps in one process apart.
    registry: createRegistry('status-query'),
    ...overrides,
  };
}

beforeAll(async () => {
  ctx = await createServiceTestContext('status-query');
  const served = await serveForTest(createApp(depsFor(ctx)));
  url = served.url;
  close = served.close;
});
afterAll(async () => {
  await close?.();
  await ctx?.cleanup();
});

const hex = (s: string) => Buffer.from(s).toString('hex').padEnd(64, '0').slice(0, 64);

async function seed(content: string, opts: { expiresInMs?: number } = {}) {
  const sha = hex(content);
  const job = await recordNewContent(ctx.db, {
    jobId: randomUUID(),
    sha256: sha,
    sizeBytes: content.length,
    originalFilename: `${content}.txt`,
    requestId: null,
    expiresAt: new Date(Date.now() + (opts.expiresInMs ?? 3_600_000)),
  });
  if (!job) throw new Error('seed conflict');
  return job;
}

describe('GET /api/v1/files/{job_id}', () => {
  it('returns a pending job with every field, timestamps in UTC with Z', async () => {
    const job = await seed('pending-job');
    const res = await fetch(`${url}/api/v1/files/${job.jobId}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(
      [
        'job_id',
        'status',
        'original_filename',
        'file_size',
        'sha256',
        'results',
        'error_message',
        'created_at',
        'updated_at',
        'completed_at',
        'expires_at',
      ].sort(),
    );
    expect(body).toMatchObject({
      job_id: job.jobId,
      status: 'pending',
      results: null,
      completed_at: null,
      error_message: null,
      file_size: 11,
    });
    for (const k of ['created_at', 'updated_at', 'expires_at'])
      expect(body[k]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('returns results with all 26 letters once completed, and caches only that final state', async () => {
    const job = await seed('completed-job');
    expect(await ctx.redis.get(ctx.keys.jobStatus(job.jobId))).toBeNull();
    await fetch(`${url}/api/v1/files/${job.jobId}`);
    // Pending states are never cached.
    expect(await ctx.redis.get(ctx.keys.jobStatus(job.jobId))).toBeNull();

    const results = countLetters(Buffer.from('completed-job'));
    await finishScan(ctx.db, job.sha256, { results });
    const body = (await (await fetch(`${url}/api/v1/files/${job.jobId}`)).json()) as Record<
      string,
      unknown
    >;
    expect(body.status).toBe('completed');
    expect(Object.keys(body.results as object)).toHaveLength(26);
    expect(body.results).toEqual(results);
    expect(body.completed_at).toMatch(/Z$/);
    const cached = await ctx.redis.get(ctx.keys.jobStatus(job.jobId));
    expect(cached && JSON.parse(cached)).toEqual(body);
    const ttl = await ctx.redis.ttl(ctx.keys.jobStatus(job.jobId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('never shows a completed job as pending again: many pollers while it completes', async () => {
    const jobs = await Promise.all(Array.from({ length: 20 }, (_, i) => seed(`race-${i}`)));
    const seenCompleted = new Set<string>();
    const regressions: string[] = [];
    let stop = false;
    const poller = async () => {
      while (!stop) {
        for (const j of jobs) {
          const body = (await (await fetch(`${url}/api/v1/files/${j.jobId}`)).json()) as {
            status: string;
          };
          if (body.status === 'completed') seenCompleted.add(j.jobId);
          else if (seenCompleted.has(j.jobId)) regressions.push(j.jobId);
        }
      }
    };
    const pollers = Array.from({ length: 8 }, poller);
    for (const j of jobs) {
      await finishScan(ctx.db, j.sha256, { results: countLetters(Buffer.from(j.sha256)) });
    }
    // Keep polling after the last completion so any stale cache entry would show.
    while (seenCompleted.size < jobs.length) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(pollers);
    expect(regressions).toEqual([]);
    for (const j of jobs) {
      const body = (await (await fetch(`${url}/api/v1/files/${j.jobId}`)).json()) as {
        status: string;
      };
      expect(body.status).toBe('completed');
    }
  });

  it('returns a failed job with its error message', async () => {
    const job = await seed('failed-job');
    await finishScan(ctx.db, job.sha256, { error: 'stored file is missing' });
    const body = (await (await fetch(`${url}/api/v1/files/${job.jobId}`)).json()) as Record<
      string,
      unknown
    >;
    expect(body).toMatchObject({
      status: 'failed',
      error_message: 'stored file is missing',
      results: null,
    });
    expect(body.completed_at).toMatch(/Z$/);
  });

  it('answers 400 for a malformed id and 404 for an unknown or expired one, as problem+json', async () => {
    const bad = await fetch(`${url}/api/v1/files/not-a-uuid`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await bad.json()).toMatchObject({ status: 400, title: 'Bad Request' });

    const unknown = await fetch(`${url}/api/v1/files/${randomUUID()}`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    const expired = await seed('expired-job', { expiresInMs: -1_000 });
    expect((await fetch(`${url}/api/v1/files/${expired.jobId}`)).status).toBe(404);
  });

  it('falls back to Postgres when Redis is down', async () => {
    const deadRedis = createRedis({ url: 'redis://127.0.0.1:1' });
    const served = await serveForTest(createApp(depsFor(ctx, { redis: deadRedis })));
    try {
      const job = await seed('no-redis');
      const res = await fetch(`${served.url}/api/v1/files/${job.jobId}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { status: string }).status).toBe('pending');
    } finally {
      await served.close();
      await closeRedis(deadRedis);
    }
  });

  it('answers from Postgres at once while Redis is connected but owes an answer', async () => {
    // Its own connection: a blocking command holds every reply after it on that connection, a
    // Redis that is connected but does not answer, without touching the shared server.
    const stalled = createRedis({ url: TEST_REDIS_URL });
    expect(await connectRedis(stalled)).toBe(true);
    const served = await serveForTest(createApp(depsFor(ctx, { redis: stalled })));
    try {
      const job = await seed('stalled-redis');
      await finishScan(ctx.db, job.sha256, { results: countLetters(Buffer.from('stalled-redis')) });
      const blocking = stalled.blPop(ctx.keys.jobStatus('never-pushed'), 3);
      // Each read waiting out its own 250 ms cache deadline would take 20 × 250 ms at least.
      const started = performance.now();
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${served.url}/api/v1/files/${job.jobId}`);
        expect(res.status).toBe(200);
        expect(((await res.json()) as { status: string }).status).toBe('completed');
      }
      expect(performance.now() - started).toBeLessThan(2_500);
      expect(stalled.isReady).toBe(true);
      expect(await blocking).toBeNull();
    } finally {
      await served.close();
      await closeRedis(stalled);
    }
  });

  it('answers 503 with Retry-After when Postgres is down', async () => {
    const deadDb = createDb({
      url: 'postgresql://postgres@127.0.0.1:1/none',
      connectionTimeoutMs: 300,
    });
    const served = await serveForTest(createApp(depsFor(ctx, { db: deadDb })));
    try {
      const res = await fetch(`${served.url}/api/v1/files/${randomUUID()}`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    } finally {
      await served.close();
      await deadDb.destroy();
    }
  });
});

describe('GET /api/v1/hashes/{sha256}', () => {
  it('returns results for scanned content, 404 when unknown or not yet scanned, 400 for bad input', async () => {
    const job = await seed('hash-lookup');
    expect((await fetch(`${url}/api/v1/hashes/${job.sha256}`)).status).toBe(404);
    const results = countLetters(Buffer.from('hash-lookup'));
    await finishScan(ctx.db, job.sha256, { results });
    const res = await fetch(`${url}/api/v1/hashes/${job.sha256.toUpperCase()}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ sha256: job.sha256, file_size: 11, results });
    expect(body.scanned_at).toMatch(/Z$/);
    expect((await fetch(`${url}/api/v1/hashes/${'0'.repeat(64)}`)).status).toBe(404);
    for (const bad of ['abc', 'g'.repeat(64), '0'.repeat(65)]) {
      const r = await fetch(`${url}/api/v1/hashes/${bad}`);
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
  });
});

describe('GET /health and probes', () => {
  it('reports healthy dependencies and storage numbers', async () => {
    const res = await fetch(`${url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      database: string;
      redis: string;
      storage: Record<string, unknown>;
    };
    expect(body).toMatchObject({ status: 'healthy', database: 'healthy', redis: 'healthy' });
    expect(Object.keys(body.storage).sort()).toEqual([
      'free_bytes',
      'percent_used',
      'status',
      'total_bytes',
      'used_bytes',
    ]);
    expect(body.storage.total_bytes as number).toBeGreaterThan(0);
    expect(['healthy', 'warning', 'critical', 'emergency']).toContain(body.storage.status);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('answers 503 when Postgres or Redis is down', async () => {
    const deadDb = createDb({
      url: 'postgresql://postgres@127.0.0.1:1/none',
      connectionTimeoutMs: 300,
    });
    const deadRedis = createRedis({ url: 'redis://127.0.0.1:1' });
    for (const overrides of [{ db: deadDb }, { redis: deadRedis }]) {
      const served = await serveForTest(createApp(depsFor(ctx, overrides)));
      try {
        const res = await fetch(`${served.url}/health`);
        expect(res.status).toBe(503);
        expect(((await res.json()) as { status: string }).status).toBe('unhealthy');
      } finally {
        await served.close();
      }
    }
    await deadDb.destroy();
    await closeRedis(deadRedis);
  });

  it('turns /readyz to 503 once shutting down', async () => {
    const lifecycle = { shuttingDown: false };
    const served = await serveForTest(createApp(depsFor(ctx, { lifecycle })));
    try {
      expect((await fetch(`${served.url}/readyz`)).status).toBe(200);
      lifecycle.shuttingDown = true;
      expect((await fetch(`${served.url}/readyz`)).status).toBe(503);
    } finally {
      await served.close();
    }
  });

  it('serves Prometheus metrics', async () => {
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('scanner_http_request_duration_seconds');
  });
});
