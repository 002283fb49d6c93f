import type { ServiceTestContext } from '@scanner/runtime/testing';
import { waitFor } from '@scanner/testing';
import { describe, expect, it } from 'vitest';
import {
  batchStats,
  seedUpload,
  unacknowledged,
  useRunningWorker,
  waitForJob,
} from './worker-context.js';

// A steady flow reaches a blocked reader one entry at a time. After a read that found only a few
// entries the worker waits WORKER_BATCH_WAIT_MS before reading again, so what arrives meanwhile is
// handled as one batch; the entries already read are handled at once, not after the wait.
let ctx: ServiceTestContext;
useRunningWorker({ WORKER_BATCH_WAIT_MS: '3000', WORKER_CONCURRENCY: '32' }, (started) => {
  ctx = started;
});

describe('batch wait', () => {
  it('handles what arrives during the wait as one batch, and the entry read before it at once', async () => {
    const first = await seedUpload(ctx, 'the first of a steady flow');
    const t0 = performance.now();
    await waitForJob(ctx, first.jobId, 'completed');
    // Done well within the wait that started with its read.
    expect(performance.now() - t0).toBeLessThan(2_500);
    const before = (await batchStats(ctx)).complete;

    const next = [];
    for (const text of ['second arrival', 'third arrival', 'fourth arrival'])
      next.push(await seedUpload(ctx, text));
    // Nothing is read while the worker waits: the three are still in the stream, undelivered.
    const { scanStream, scanGroup } = ctx.keys;
    const group = (await ctx.redis.xInfoGroups(scanStream)).find((g) => g.name === scanGroup);
    expect(await unacknowledged(ctx)).toBe(0);
    expect(Number(group?.lag)).toBe(3);

    for (const job of next) await waitForJob(ctx, job.jobId, 'completed', 10_000);
    const after = (await batchStats(ctx)).complete;
    expect(after.calls - before.calls).toBe(1);
    expect(after.items - before.items).toBe(3);
    await waitFor(async () => (await unacknowledged(ctx)) === 0, { message: 'all acknowledged' });
  });
});
