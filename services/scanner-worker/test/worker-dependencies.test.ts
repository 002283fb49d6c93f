import { createDb, type Db } from '@scanner/db';
import { closeRedis, connectRedis, createRedis, type Redis } from '@scanner/redis';
import { createServiceTestContext, type ServiceTestContext } from '@scanner/runtime/testing';
import { TcpProxy, waitFor } from '@scanner/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, type Worker } from '../src/worker.js';
import { fileRow, seedUpload, unacknowledged, waitForJob } from './worker-context.js';

// The worker talks to Postgres and Redis through proxies the test cuts and restores; the test
// itself seeds work over direct connections, like the gateway would during the outage.
let ctx: ServiceTestContext;
let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let workerDb: Db;
let workerRedis: Redis;
let worker: Worker;

beforeAll(async () => {
  ctx = await createServiceTestContext('scanner-worker', {
    CLAIM_IDLE_MS: '2000',
    REPUBLISH_AFTER_MS: '600000',
  });
  const pgUrl = new URL(ctx.databaseUrl);
  pgProxy = new TcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
  redisProxy = new TcpProxy('127.0.0.1', Number(new URL(ctx.redisUrl).port || 6379));
  pgUrl.port = String(await pgProxy.start());
  const redisPort = await redisProxy.start();
  // Short deadlines, so a dead connection is noticed within the test (35 s by default).
  workerDb = createDb({
    url: pgUrl.toString(),
    connectionTimeoutMs: 500,
    statementTimeoutMs: 1_000,
  });
  // A short silence deadline, so a dead connection is noticed within the test (15 s by default).
  workerRedis = createRedis({ url: `redis://127.0.0.1:${redisPort}/0`, silenceTimeoutMs: 1_500 });
  await connectRedis(workerRedis);
  worker = createWorker({ ...ctx, db: workerDb, redis: workerRedis });
  await worker.start();
});
afterAll(async () => {
  await worker?.stop(5_000);
  await Promise.allSettled([pgProxy?.cut(), redisProxy?.cut()]);
  await workerDb?.destroy();
  await closeRedis(workerRedis);
  await ctx?.cleanup();
});

describe('transient dependency failures', () => {
  it('rides out Postgres being unreachable: retries with backoff, then completes the job once', async () => {
    const warmup = await seedUpload(ctx, 'before the outage');
    await waitForJob(ctx, warmup.jobId, 'completed');

    await pgProxy.cut();
    const job = await seedUpload(ctx, 'during a postgres outage');
    // The worker has the message and keeps failing to reach Postgres.
    await waitFor(async () => (await unacknowledged(ctx)) === 1, {
      message: 'message delivered during the outage',
    });
    await new Promise((r) => setTimeout(r, 500));
    await pgProxy.start();

    await waitForJob(ctx, job.jobId, 'completed', 30_000);
    expect((await fileRow(ctx, job.sha256)).scan_attempts).toBe(1);
  });

  it('rides out Redis connections being reset and refused: reconnects and consumes again', async () => {
    await redisProxy.cut();
    const job = await seedUpload(ctx, 'during a redis outage');
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await fileRow(ctx, job.sha256)).scan_status).toBe('pending');
    await redisProxy.start();
    await waitForJob(ctx, job.jobId, 'completed', 30_000);
    await waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
      message: 'acknowledged after reconnect',
    });
  });

  it('notices Postgres connections that went silent (half-open) and completes the scan over new ones', async () => {
    // A scan first, so the worker's pool holds open connections; then every one of them stops
    // passing anything, without being closed.
    const before = await seedUpload(ctx, 'before the database connections went silent');
    await waitForJob(ctx, before.jobId, 'completed', 20_000);
    pgProxy.sever();
    const job = await seedUpload(ctx, 'after the database connections went silent');
    await waitForJob(ctx, job.jobId, 'completed', 20_000);
    expect((await fileRow(ctx, job.sha256)).scan_attempts).toBe(1);
  });

  it('notices Redis connections that went silent (half-open) and consumes again over new ones', async () => {
    // Both of the worker's connections (commands, and the one blocked on the stream read) stop
    // passing anything, without being closed: nothing tells the worker, except the silence.
    redisProxy.sever();
    const job = await seedUpload(ctx, 'after the connections went silent');
    await waitForJob(ctx, job.jobId, 'completed', 20_000);
    await waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
      message: 'acknowledged over a new connection',
      timeoutMs: 20_000,
    });
  });
});
