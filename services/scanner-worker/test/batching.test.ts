import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { contentPath, countLetters } from '@scanner/core';
import type { RecordedUpload } from '@scanner/db';
import { encodeScanMessage } from '@scanner/redis';
import type { ServiceTestContext } from '@scanner/runtime/testing';
import { waitFor } from '@scanner/testing';
import { type RawBuilder, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { SYNC_READ_MAX_BYTES } from '../src/scan-stored-file.js';
import {
  batchStats,
  fileRow,
  jobRow,
  seedUpload,
  sha256,
  unacknowledged,
  useRunningWorker,
  waitForJob,
} from './worker-context.js';

// Many entries delivered to one worker at once: claims, finishes and acknowledgements go out in
// batches, and every guarantee of a single scan still holds for each file in a batch.
let ctx: ServiceTestContext;
useRunningWorker(
  {
    MAX_RETRIES: '2',
    CLAIM_IDLE_MS: '1000',
    REPUBLISH_AFTER_MS: '600000',
    WORKER_CONCURRENCY: '32',
  },
  (started) => {
    ctx = started;
  },
);

/** Adds the entries in one MULTI, so a worker blocked on the stream gets them in one read. */
async function publishTogether(jobs: Array<Pick<RecordedUpload, 'sha256' | 'jobId'>>) {
  const multi = ctx.redis.multi();
  for (const j of jobs) {
    multi.xAdd(
      ctx.keys.scanStream,
      '*',
      encodeScanMessage({ sha256: j.sha256, jobId: j.jobId, requestId: 'together' }),
    );
  }
  await multi.exec();
}

/**
 * Delivers one entry per content to the worker in one read, waits until every job is completed
 * with exact counts (each content scanned once) and the stream is empty, and returns the batched
 * calls made meanwhile and the items they carried, per operation.
 */
async function scanTogether(contents: Array<Buffer | string>) {
  const jobs: RecordedUpload[] = [];
  for (const c of contents) jobs.push(await seedUpload(ctx, c, { publish: false }));
  const before = await batchStats(ctx);
  await publishTogether(jobs);
  await Promise.all(jobs.map((j) => waitForJob(ctx, j.jobId, 'completed')));
  for (const [i, j] of jobs.entries()) {
    const row = await fileRow(ctx, j.sha256);
    expect(row.results).toEqual(countLetters(Buffer.from(contents[i] as Buffer | string)));
    expect(row.scan_attempts).toBe(1);
  }
  await streamEmpty();
  const after = await batchStats(ctx);
  const ops = ['claim', 'finish', 'complete', 'ack'] as const;
  const delta = (field: 'calls' | 'items') =>
    Object.fromEntries(ops.map((op) => [op, after[op][field] - before[op][field]])) as Record<
      (typeof ops)[number],
      number
    >;
  return { jobs, calls: delta('calls'), items: delta('items') };
}

const streamEmpty = () =>
  waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
    message: 'stream drained',
  });

describe('batched scans', () => {
  it('completes many small files in a few calls, each read and verified first, counted exactly', async () => {
    const contents = Array.from({ length: 30 }, (_, i) => `small file ${i} ${'ab'.repeat(i)}`);
    const { jobs, calls, items } = await scanTogether(contents);
    // Claimed and completed in one step: no claim, no finish of their own.
    expect(items).toMatchObject({ complete: 30, claim: 0, finish: 0, ack: 30 });
    // One read of 30 entries: far fewer calls than files.
    expect(calls.complete).toBeLessThanOrEqual(3);
    // No results cache writes: one Redis entry per scan would grow with the ingest rate.
    const cached = await ctx.redis.mGet(jobs.map((j) => ctx.keys.fileResults(j.sha256)));
    expect(cached.filter((c) => c !== null)).toEqual([]);
  });

  it('claims and finishes files too large to read up front in a few calls, each counted exactly', async () => {
    const contents = Array.from({ length: 12 }, (_, i) =>
      Buffer.alloc(SYNC_READ_MAX_BYTES + 1 + i, `large ${i} `),
    );
    const { calls, items } = await scanTogether(contents);
    expect(items).toMatchObject({ claim: 12, finish: 12, complete: 0, ack: 12 });
    expect(calls.claim).toBeLessThanOrEqual(3);
    expect(calls.finish).toBeLessThanOrEqual(8);
  });

  it('leaves a small file whose scan a live worker holds to that worker, though it could read it', async () => {
    const held = await seedUpload(ctx, 'held by another worker', { publish: false });
    const claimHeld = (heartbeatAt: RawBuilder<Date>) =>
      ctx.db
        .updateTable('files')
        .set({ scan_status: 'processing', scan_attempts: 1, heartbeat_at: heartbeatAt })
        .where('sha256', '=', held.sha256)
        .execute();
    await claimHeld(sql<Date>`now() + interval '1 hour'`); // a heartbeat that stays fresh
    const before = await batchStats(ctx);
    await publishTogether([held]);
    await waitFor(async () => (await batchStats(ctx)).claim.items > before.claim.items, {
      message: 'the claim path asked after the one-step completion was refused',
    });
    expect(await fileRow(ctx, held.sha256)).toMatchObject({
      scan_status: 'processing',
      scan_attempts: 1,
      results: null,
    });
    expect(await unacknowledged(ctx)).toBe(1); // kept for when that worker dies
    // It dies: its heartbeat goes stale, the entry is reclaimed and the scan taken over.
    await claimHeld(sql<Date>`now() - interval '1 hour'`);
    await waitForJob(ctx, held.jobId, 'completed');
    expect((await fileRow(ctx, held.sha256)).scan_attempts).toBe(2);
    await streamEmpty();
  });

  it('takes an entry reclaimed from a consumer that died on it through the claim path', async () => {
    const job = await seedUpload(ctx, 'small, but a worker died on it', { publish: false });
    const before = await batchStats(ctx);
    // Added and read by a consumer that then dies, atomically: this worker can only reclaim it.
    await ctx.redis
      .multi()
      .xAdd(
        ctx.keys.scanStream,
        '*',
        encodeScanMessage({ sha256: job.sha256, jobId: job.jobId, requestId: 'reclaimed' }),
      )
      .xReadGroup(ctx.keys.scanGroup, 'died-mid-scan', { key: ctx.keys.scanStream, id: '>' })
      .exec();
    await waitForJob(ctx, job.jobId, 'completed');
    const after = await batchStats(ctx);
    expect(after.claim.items - before.claim.items).toBe(1);
    expect(after.complete.items - before.complete.items).toBe(0);
    expect((await fileRow(ctx, job.sha256)).scan_attempts).toBe(1);
    await streamEmpty();
  });

  it('a file still being read does not hold back the others delivered with it', async () => {
    const slow = await seedUpload(ctx, 'a slow file', { bytes: null, publish: false });
    const path = contentPath(ctx.storageRoot, slow.sha256);
    await mkdir(dirname(path), { recursive: true });
    execFileSync('mkfifo', [path]); // its scan blocks until the test writes the bytes
    const quick = [];
    for (let i = 0; i < 10; i++)
      quick.push(await seedUpload(ctx, `quick ${i}`, { publish: false }));
    await publishTogether([slow, ...quick]);

    await Promise.all(quick.map((j) => waitForJob(ctx, j.jobId, 'completed')));
    expect((await jobRow(ctx, slow.jobId)).status).toBe('processing');
    await waitFor(async () => (await unacknowledged(ctx)) === 1, {
      message: 'only the slow entry left unacknowledged',
    });

    await writeFile(path, 'a slow file');
    await waitForJob(ctx, slow.jobId, 'completed');
    await streamEmpty();
  });

  it('the same content twice in one delivery is scanned once, and both entries are acknowledged', async () => {
    const content = 'delivered twice at once';
    const job = await seedUpload(ctx, content, { publish: false });
    await publishTogether([job, job, job]);
    await waitForJob(ctx, job.jobId, 'completed');
    await streamEmpty();
    expect((await fileRow(ctx, job.sha256)).scan_attempts).toBe(1);
  });

  it('each file of a mixed delivery gets its own outcome', async () => {
    const good = await seedUpload(ctx, 'good in a mixed batch', { publish: false });
    const missing = await seedUpload(ctx, 'missing in a mixed batch', {
      bytes: null,
      publish: false,
    });
    const corrupt = await seedUpload(ctx, 'corrupt in a mixed batch', {
      bytes: 'CORRUPT in a mixed batch',
      publish: false,
    });
    const poison = await seedUpload(ctx, 'poison in a mixed batch', { publish: false });
    await ctx.db
      .updateTable('files')
      .set({ scan_attempts: 2 }) // MAX_RETRIES=2: this delivery is the third
      .where('sha256', '=', poison.sha256)
      .execute();
    const ghost = { sha256: sha256('nobody uploaded this'), jobId: crypto.randomUUID() };
    await publishTogether([good, missing, corrupt, poison, ghost]);

    await waitForJob(ctx, good.jobId, 'completed');
    expect((await waitForJob(ctx, missing.jobId, 'failed')).error_message).toBe(
      'stored file is missing',
    );
    expect((await waitForJob(ctx, corrupt.jobId, 'failed')).error_message).toMatch(
      /corrupted.*SHA-256/,
    );
    expect((await waitForJob(ctx, poison.jobId, 'failed')).error_message).toBe(
      'scan abandoned: delivered 3 times, more than MAX_RETRIES=2',
    );
    await waitFor(async () => {
      const dead = await ctx.redis.xRange(ctx.keys.deadLetterStream, '-', '+');
      const reasons = new Map(dead.map((e) => [e.message.sha256, e.message.reason]));
      return (
        reasons.get(ghost.sha256)?.includes('no content') &&
        reasons.get(poison.sha256)?.includes('MAX_RETRIES')
      );
    });
    await streamEmpty();
  });
});
