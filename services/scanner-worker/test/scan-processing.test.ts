import { mkdir } from 'node:fs/promises';
import { contentPath, countLetters } from '@scanner/core';
import { publishScan } from '@scanner/redis';
import type { ServiceTestContext } from '@scanner/runtime/testing';
import { waitFor } from '@scanner/testing';
import { describe, expect, it } from 'vitest';
import { fileRow, seedUpload, sha256, useRunningWorker, waitForJob } from './worker-context.js';

let ctx: ServiceTestContext;
useRunningWorker(
  {
    MAX_RETRIES: '2',
    CLAIM_IDLE_MS: '1000',
    REPUBLISH_AFTER_MS: '300',
    WORKER_CONCURRENCY: '4',
  },
  (started) => {
    ctx = started;
  },
);

describe('scanning', () => {
  it('counts letters exactly and completes the job, then acknowledges and deletes the entry', async () => {
    const content = Buffer.concat([
      Buffer.from('Hello World ß é Ä 123 \r\n'),
      Buffer.alloc(3 << 20, 'q'),
      Buffer.from('zZ'),
    ]);
    const job = await seedUpload(ctx, content);
    const done = await waitForJob(ctx, job.jobId, 'completed');
    expect(done.completed_at).toBeInstanceOf(Date);
    const file = await fileRow(ctx, sha256(content));
    expect(file.results).toEqual(countLetters(content));
    expect(file.results?.Q).toBe(3 << 20);
    expect(file.results?.S).toBe(0); // ß is two bytes that count nothing
    expect(file.scan_attempts).toBe(1);
    // The results cache is filled by the gateway's first duplicate, not by every scan.
    expect(await ctx.redis.get(ctx.keys.fileResults(sha256(content)))).toBeNull();
    await waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
      message: 'stream drained',
    });
  });

  it('completes every job waiting on the same content with one scan', async () => {
    const content = 'shared content';
    const first = await seedUpload(ctx, content, { publish: false });
    // A second upload joining the pending scan (what the gateway's locked path does).
    await ctx.db
      .insertInto('jobs')
      .values({
        ...{
          job_id: crypto.randomUUID(),
          sha256: sha256(content),
          original_filename: 'b',
          file_size: 14,
        },
        expires_at: new Date(Date.now() + 60_000),
        deduplicated: true,
      })
      .execute();
    await publishScan(ctx.redis, ctx.keys, {
      sha256: sha256(content),
      jobId: first.jobId,
      requestId: 'r',
    });
    await waitForJob(ctx, first.jobId, 'completed');
    const jobs = await ctx.db
      .selectFrom('jobs')
      .select('status')
      .where('sha256', '=', sha256(content))
      .execute();
    expect(jobs.map((j) => j.status)).toEqual(['completed', 'completed']);
    expect((await fileRow(ctx, sha256(content))).scan_attempts).toBe(1);
  });

  it('is idempotent: a duplicate message for scanned content completes without scanning again', async () => {
    const content = 'scan me once';
    const job = await seedUpload(ctx, content);
    await waitForJob(ctx, job.jobId, 'completed');
    const before = await fileRow(ctx, sha256(content));
    await publishScan(ctx.redis, ctx.keys, {
      sha256: sha256(content),
      jobId: job.jobId,
      requestId: 'dup',
    });
    await waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
      message: 'duplicate acknowledged',
    });
    const after = await fileRow(ctx, sha256(content));
    expect(after.scan_attempts).toBe(1);
    expect(after.scanned_at).toEqual(before.scanned_at);
  });

  it('fails a job whose stored file does not match its content address (corruption), with a clear message', async () => {
    const job = await seedUpload(ctx, 'the real content', { bytes: 'the REAL content' });
    const failed = await waitForJob(ctx, job.jobId, 'failed');
    expect(failed.error_message).toMatch(/corrupted.*SHA-256/);
    expect(failed.completed_at).toBeInstanceOf(Date);
    expect((await fileRow(ctx, job.sha256)).results).toBeNull();
  });

  it('fails a job whose stored file has a different size', async () => {
    const job = await seedUpload(ctx, 'short', { bytes: 'shorter' });
    expect((await waitForJob(ctx, job.jobId, 'failed')).error_message).toMatch(
      /corrupted: 7 bytes on disk, 5 uploaded/,
    );
  });

  it('fails a job whose file is missing, at once', async () => {
    const job = await seedUpload(ctx, 'never stored', { bytes: null });
    const failed = await waitForJob(ctx, job.jobId, 'failed');
    expect(failed.error_message).toBe('stored file is missing');
    expect((await fileRow(ctx, job.sha256)).scan_attempts).toBe(1);
  });

  it('fails a job whose file is unreadable (a directory in its place)', async () => {
    const job = await seedUpload(ctx, 'a directory', { bytes: null, publish: false });
    await mkdir(contentPath(ctx.storageRoot, job.sha256), { recursive: true });
    await publishScan(ctx.redis, ctx.keys, {
      sha256: job.sha256,
      jobId: job.jobId,
      requestId: 'r',
    });
    expect((await waitForJob(ctx, job.jobId, 'failed')).error_message).toBe(
      'stored file is unreadable (EISDIR)',
    );
  });

  it('gives up on a message delivered more than MAX_RETRIES times: failed, dead-lettered, acknowledged', async () => {
    const job = await seedUpload(ctx, 'poison', { publish: false });
    // Two earlier deliveries died mid-scan (MAX_RETRIES=2); this is the third.
    await ctx.db
      .updateTable('files')
      .set({ scan_attempts: 2 })
      .where('sha256', '=', job.sha256)
      .execute();
    await publishScan(ctx.redis, ctx.keys, {
      sha256: job.sha256,
      jobId: job.jobId,
      requestId: 'poison-req',
    });
    const failed = await waitForJob(ctx, job.jobId, 'failed');
    expect(failed.error_message).toBe('scan abandoned: delivered 3 times, more than MAX_RETRIES=2');
    expect(failed.retry_count).toBe(3);
    const dead = await waitFor(async () => {
      const entries = await ctx.redis.xRange(ctx.keys.deadLetterStream, '-', '+');
      return entries.find((e) => e.message.sha256 === job.sha256);
    });
    expect(dead.message).toMatchObject({
      job_id: job.jobId,
      request_id: 'poison-req',
      attempts: '3',
    });
    expect(dead.message.reason).toContain('MAX_RETRIES');
    await waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
      message: 'poison acknowledged',
    });
  });

  it('dead-letters a message for content nobody recorded', async () => {
    const ghost = sha256('ghost');
    await publishScan(ctx.redis, ctx.keys, {
      sha256: ghost,
      jobId: crypto.randomUUID(),
      requestId: 'g',
    });
    await waitFor(async () => {
      const entries = await ctx.redis.xRange(ctx.keys.deadLetterStream, '-', '+');
      return entries.some(
        (e) => e.message.sha256 === ghost && e.message.reason?.includes('no content'),
      );
    });
  });
});

describe('recovery', () => {
  it('republishes content whose message was lost (the stream deleted, as after a Redis restart)', async () => {
    const content = 'lost with the stream';
    const job = await seedUpload(ctx, content, { publish: false });
    await ctx.redis.del(ctx.keys.scanStream);
    // published_at is recent: nothing happens until REPUBLISH_AFTER_MS has passed, then it completes.
    const done = await waitForJob(ctx, job.jobId, 'completed', 15_000);
    expect((await fileRow(ctx, job.sha256)).results).toEqual(countLetters(Buffer.from(content)));
    expect(done.status).toBe('completed');
  });

  it('publishes uploads accepted while Redis was down (published_at null)', async () => {
    const job = await seedUpload(ctx, 'accepted during a redis outage', { publish: false });
    await ctx.db
      .updateTable('files')
      .set({ published_at: null })
      .where('sha256', '=', job.sha256)
      .execute();
    await waitForJob(ctx, job.jobId, 'completed', 15_000);
  });

  it('keeps the stream bounded: acknowledged entries are deleted', async () => {
    const jobs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => seedUpload(ctx, `bounded ${i}`)),
    );
    await Promise.all(jobs.map((j) => waitForJob(ctx, j.jobId, 'completed')));
    await waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
      message: 'stream empty',
    });
    const groups = await ctx.redis.xInfoGroups(ctx.keys.scanStream);
    expect(groups[0]?.pending).toBe(0);
  });
});
