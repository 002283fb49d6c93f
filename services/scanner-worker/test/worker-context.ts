import { createHash, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { contentPath } from '@scanner/core';
import { type RecordedUpload, recordNewContent } from '@scanner/db';
import { publishScan } from '@scanner/redis';
import { createServiceTestContext, type ServiceTestContext } from '@scanner/runtime/testing';
import { startProcess, waitFor } from '@scanner/testing';
import { afterAll, beforeAll } from 'vitest';
import { createWorker, type Worker } from '../src/worker.js';

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Does what the gateway does for new content (row, bytes at the content address, stream entry),
 * without depending on the gateway package. `bytes` lets a test store something other than what
 * the address promises (a corrupted file) or nothing at all.
 */
export async function seedUpload(
  ctx: ServiceTestContext,
  content: Buffer | string,
  opts: { bytes?: Buffer | string | null; publish?: boolean } = {},
): Promise<RecordedUpload> {
  const sha = sha256(content);
  const requestId = `req-${sha.slice(0, 8)}`;
  const job = await recordNewContent(ctx.db, {
    jobId: randomUUID(),
    sha256: sha,
    sizeBytes: Buffer.byteLength(content),
    originalFilename: 'seed.txt',
    requestId,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  if (!job) throw new Error('content already recorded');
  const bytes = opts.bytes === undefined ? content : opts.bytes;
  if (bytes !== null) {
    const path = contentPath(ctx.storageRoot, sha);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }
  if (opts.publish !== false) {
    await publishScan(ctx.redis, ctx.keys, {
      sha256: sha,
      jobId: job.jobId,
      requestId,
    });
  }
  return job;
}

export async function jobRow(ctx: ServiceTestContext, jobId: string) {
  return ctx.db
    .selectFrom('jobs')
    .selectAll()
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
}

export async function fileRow(ctx: ServiceTestContext, sha: string) {
  return ctx.db.selectFrom('files').selectAll().where('sha256', '=', sha).executeTakeFirstOrThrow();
}

export async function waitForJob(
  ctx: ServiceTestContext,
  jobId: string,
  status: 'completed' | 'failed',
  timeoutMs = 20_000,
) {
  return waitFor(
    async () => {
      const row = await jobRow(ctx, jobId);
      return row.status === status ? row : undefined;
    },
    { timeoutMs, message: `job ${jobId} ${status}` },
  );
}

/** A real worker process running this package's sources, joined to the test's database and prefix. */
export function startWorkerProcess(
  ctx: ServiceTestContext,
  name: string,
  env: Record<string, string> = {},
) {
  return startProcess(
    name,
    process.execPath,
    ['--conditions=@scanner/source', '--import', 'tsx', 'src/main.ts'],
    ctx.env({ PORT: '0', LOG_LEVEL: 'info', ...env }),
  );
}

/** How many stream entries are delivered to a worker and not yet acknowledged (at most 100). */
export async function unacknowledged(ctx: ServiceTestContext): Promise<number> {
  const { scanStream, scanGroup } = ctx.keys;
  return (await ctx.redis.xPendingRange(scanStream, scanGroup, '-', '+', 100)).length;
}

/**
 * A worker running in this test process for the whole file, with the file's own database, Redis
 * prefix and volume (`env` on top of the test defaults), handed to `ready` once started; stopped
 * and cleaned up after the file's tests.
 */
export function useRunningWorker(
  env: Record<string, string>,
  ready: (ctx: ServiceTestContext, worker: Worker) => void,
): void {
  let ctx: ServiceTestContext | undefined;
  let worker: Worker | undefined;
  beforeAll(async () => {
    ctx = await createServiceTestContext('scanner-worker', env);
    worker = createWorker(ctx);
    await worker.start();
    ready(ctx, worker);
  });
  afterAll(async () => {
    await worker?.stop(5_000);
    await ctx?.cleanup();
  });
}

/**
 * Calls the worker made so far per batched operation (`claim`, `finish`, `complete`, `ack`), and
 * the items they carried.
 */
export async function batchStats(ctx: ServiceTestContext) {
  const metric = await ctx.registry.getSingleMetric('scanner_worker_batch_entries')?.get();
  // Histogram values carry the series name (_bucket, _sum, _count) besides their labels.
  const values = (metric?.values ?? []) as Array<{
    metricName?: string;
    labels: { op?: string };
    value: number;
  }>;
  const pick = (name: string, op: string) =>
    values.find((v) => v.metricName === name && v.labels.op === op)?.value ?? 0;
  const stats = (op: string) => ({
    calls: pick('scanner_worker_batch_entries_count', op),
    items: pick('scanner_worker_batch_entries_sum', op),
  });
  return {
    claim: stats('claim'),
    finish: stats('finish'),
    complete: stats('complete'),
    ack: stats('ack'),
  };
}
