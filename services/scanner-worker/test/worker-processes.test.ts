import { execFileSync } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { contentPath, countLetters } from '@scanner/core';
import { publishScan } from '@scanner/redis';
import { createServiceTestContext, type ServiceTestContext } from '@scanner/runtime/testing';
import { type ServiceProcess, waitFor } from '@scanner/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileRow, seedUpload, startWorkerProcess, waitForJob } from './worker-context.js';

const CLAIM_IDLE_MS = 1_000;
let ctx: ServiceTestContext;
const running: ServiceProcess[] = [];

beforeAll(async () => {
  ctx = await createServiceTestContext('scanner-worker', {
    CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
    REPUBLISH_AFTER_MS: '600000',
    WORKER_CONCURRENCY: '1',
    SHUTDOWN_TIMEOUT_MS: '5000',
  });
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  await ctx?.cleanup();
});

function worker(name: string, env: Record<string, string> = {}) {
  const p = startWorkerProcess(ctx, name, env);
  running.push(p);
  return p;
}

/**
 * Content whose stored file is a named pipe: a scan opens it and blocks until the test writes the
 * bytes, which makes "a worker in the middle of a scan" a state the test controls exactly.
 */
async function seedBlockingUpload(content: string) {
  const job = await seedUpload(ctx, content, { bytes: null, publish: false });
  const path = contentPath(ctx.storageRoot, job.sha256);
  await mkdir(dirname(path), { recursive: true });
  execFileSync('mkfifo', [path]);
  await publishScan(ctx.redis, ctx.keys, {
    sha256: job.sha256,
    jobId: job.jobId,
    requestId: 'fifo',
  });
  return { job, release: () => writeFile(path, content) };
}

async function scanStarted(sha: string, attempt: number) {
  await waitFor(
    async () => {
      const f = await fileRow(ctx, sha);
      return f.scan_status === 'processing' && f.scan_attempts === attempt;
    },
    { message: `scan attempt ${attempt} started`, timeoutMs: 20_000 },
  );
}

describe('worker processes', () => {
  it('a worker killed mid-scan loses nothing: another reclaims its entry and completes the job', async () => {
    const content = 'killed mid scan';
    const { job, release } = await seedBlockingUpload(content);
    const a = worker('worker-a');
    await scanStarted(job.sha256, 1);
    await a.kill();

    worker('worker-b');
    // B reclaims the entry once it has been idle CLAIM_IDLE_MS and the heartbeat has gone stale.
    await scanStarted(job.sha256, 2);
    await release();
    await waitForJob(ctx, job.jobId, 'completed');
    expect((await fileRow(ctx, job.sha256)).results).toEqual(countLetters(Buffer.from(content)));
    await waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
      message: 'entry acknowledged',
    });
  });

  it('a long scan is never reclaimed from a live worker', async () => {
    const content = 'a long scan';
    const { job, release } = await seedBlockingUpload(content);
    worker('worker-c');
    worker('worker-d');
    await scanStarted(job.sha256, 1);
    // Asserting that nothing happens needs time to pass: several claim-idle periods.
    await sleep(CLAIM_IDLE_MS * 4);
    expect((await fileRow(ctx, job.sha256)).scan_attempts).toBe(1);
    const pending = await ctx.redis.xPendingRange(
      ctx.keys.scanStream,
      ctx.keys.scanGroup,
      '-',
      '+',
      10,
    );
    expect(pending).toHaveLength(1);
    expect(pending[0]?.deliveriesCounter).toBe(1);
    await release();
    await waitForJob(ctx, job.jobId, 'completed');
    expect((await fileRow(ctx, job.sha256)).scan_attempts).toBe(1);
  });

  it('SIGTERM: finishes in-flight work, acknowledges, leaves the group and exits 0', async () => {
    const w = worker('worker-e');
    const job = await seedUpload(ctx, 'before shutdown');
    await waitForJob(ctx, job.jobId, 'completed');
    const consumers = async () =>
      (await ctx.redis.xInfoConsumers(ctx.keys.scanStream, ctx.keys.scanGroup)).map((c) => c.name);
    await waitFor(async () => (await consumers()).length > 0, { message: 'consumer registered' });
    const before = await consumers();
    expect(await w.stop(10_000)).toBe(0);
    const after = await consumers();
    expect(after.length).toBe(before.length - 1);
    expect(w.output()).toContain('shutdown complete');
  });

  it('SIGTERM during a scan that cannot finish in time: exits 0 within the deadline, the entry goes to another worker', async () => {
    const content = 'interrupted by shutdown';
    const { job, release } = await seedBlockingUpload(content);
    const w = worker('worker-f');
    await scanStarted(job.sha256, 1);
    // A scan that makes slow progress (a byte every 50 ms) and could never finish before the
    // shutdown deadline.
    const pipe = await open(contentPath(ctx.storageRoot, job.sha256), 'w');
    const trickle = setInterval(() => void pipe.write('x').catch(() => {}), 50);
    try {
      const started = Date.now();
      expect(await w.stop(15_000)).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(w.output()).toContain('scan interrupted by shutdown');
    } finally {
      clearInterval(trickle);
      await pipe.close();
    }

    worker('worker-g');
    await scanStarted(job.sha256, 2);
    await release();
    await waitForJob(ctx, job.jobId, 'completed');
  });
});

describe('fault soak', () => {
  it('200 jobs across workers that are killed and restarted: all complete exactly, no content scanned twice but where a worker died', async () => {
    const contents = Array.from({ length: 200 }, (_, i) =>
      Buffer.concat([Buffer.from(`job ${i} `), Buffer.alloc(20_000 + i, 65 + (i % 26))]),
    );
    const a = worker('soak-a', { WORKER_CONCURRENCY: '4' });
    worker('soak-b', { WORKER_CONCURRENCY: '4' });
    const jobs = [];
    for (const c of contents) jobs.push(await seedUpload(ctx, c));
    // Duplicate deliveries of a few messages must not cause second scans.
    for (const j of jobs.slice(0, 20))
      await publishScan(ctx.redis, ctx.keys, {
        sha256: j.sha256,
        jobId: j.jobId,
        requestId: 'dup',
      });

    await waitFor(
      async () => {
        const { n } = await ctx.db
          .selectFrom('jobs')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('status', '=', 'completed')
          .executeTakeFirstOrThrow();
        return Number(n) >= 30;
      },
      { message: 'some progress' },
    );
    await a.kill();
    worker('soak-c', { WORKER_CONCURRENCY: '4' });

    await Promise.all(jobs.map((j) => waitForJob(ctx, j.jobId, 'completed', 60_000)));
    for (const [i, j] of jobs.entries()) {
      expect((await fileRow(ctx, j.sha256)).results).toEqual(countLetters(contents[i] as Buffer));
    }
    const rescanned = await ctx.db
      .selectFrom('files')
      .select('sha256')
      .where('scan_attempts', '>', 1)
      .where(
        'sha256',
        'in',
        jobs.map((j) => j.sha256),
      )
      .execute();
    // Only scans in flight in the killed worker (its concurrency) may have run twice.
    expect(rescanned.length).toBeLessThanOrEqual(4);
    try {
      await waitFor(async () => (await ctx.redis.xLen(ctx.keys.scanStream)) === 0, {
        message: 'stream drained',
        timeoutMs: 20_000,
      });
    } catch (e) {
      console.log('STREAM', JSON.stringify(await ctx.redis.xRange(ctx.keys.scanStream, '-', '+')));
      console.log(
        'PENDING',
        JSON.stringify(
          await ctx.redis.xPendingRange(ctx.keys.scanStream, ctx.keys.scanGroup, '-', '+', 100),
        ),
      );
      console.log(
        'CONSUMERS',
        JSON.stringify(await ctx.redis.xInfoConsumers(ctx.keys.scanStream, ctx.keys.scanGroup)),
      );
      console.log(
        running
          .map((r) =>
            r
              .output()
              .split('\n')
              .filter((l) => !l.includes('scans completed'))
              .join('\n'),
          )
          .join('\n-----\n'),
      );
      throw e;
    }
  });
});
