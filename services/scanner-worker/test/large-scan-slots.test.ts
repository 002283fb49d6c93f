import { countLetters } from '@scanner/core';
import type { ServiceTestContext } from '@scanner/runtime/testing';
import { describe, expect, it } from 'vitest';
import { ScanSlots } from '../src/scan-slots.js';
import { SYNC_READ_MAX_BYTES } from '../src/scan-stored-file.js';
import { fileRow, seedUpload, useRunningWorker, waitForJob } from './worker-context.js';

// Many entries may be in flight (WORKER_CONCURRENCY), but only WORKER_LARGE_FILE_SCANS of them
// stream a large file at once: each holds two 1 MiB read buffers.
describe('ScanSlots', () => {
  it('grants at most its size at once, then in arrival order; a release counts once', async () => {
    const slots = new ScanSlots(2);
    const signal = new AbortController().signal;
    const first = await slots.acquire(signal);
    const second = await slots.acquire(signal);
    const order: string[] = [];
    const third = slots.acquire(signal).then((release) => {
      order.push('third');
      return release;
    });
    const fourth = slots.acquire(signal).then((release) => {
      order.push('fourth');
      return release;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);
    first();
    first(); // twice: still one slot
    await third;
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['third']);
    second();
    (await fourth)();
    expect(order).toEqual(['third', 'fourth']);
  });

  it('gives up waiting when its signal aborts, leaving its place to the next', async () => {
    const slots = new ScanSlots(1);
    const held = await slots.acquire(new AbortController().signal);
    const abort = new AbortController();
    const waiting = slots.acquire(abort.signal);
    const next = slots.acquire(new AbortController().signal);
    abort.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow('shutting down');
    held();
    await expect(next).resolves.toBeTypeOf('function');
    await expect(slots.acquire(abort.signal)).rejects.toThrow('shutting down');
  });
});

let ctx: ServiceTestContext;
useRunningWorker({ WORKER_CONCURRENCY: '32', WORKER_LARGE_FILE_SCANS: '2' }, (started) => {
  ctx = started;
});

describe('large files in a worker', () => {
  it('streams at most WORKER_LARGE_FILE_SCANS of them at once, and scans every one exactly', async () => {
    const gauge = () => ctx.registry.getSingleMetric('scanner_scans_in_flight')?.get();
    let most = 0;
    const sampler = setInterval(async () => {
      const value = (await gauge())?.values[0]?.value ?? 0;
      most = Math.max(most, value);
    }, 1);
    try {
      const contents = Array.from({ length: 6 }, (_, i) =>
        Buffer.alloc(8 * SYNC_READ_MAX_BYTES + i, `large file ${i} `),
      );
      const jobs = [];
      for (const c of contents) jobs.push(await seedUpload(ctx, c));
      for (const job of jobs) await waitForJob(ctx, job.jobId, 'completed');
      for (const [i, job] of jobs.entries()) {
        expect((await fileRow(ctx, job.sha256)).results).toEqual(
          countLetters(contents[i] as Buffer),
        );
      }
    } finally {
      clearInterval(sampler);
    }
    expect(most).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(2);
  });
});
