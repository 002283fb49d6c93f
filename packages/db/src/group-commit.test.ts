import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

/** A run function that records the batches it was given and answers each item doubled. */
function recorder(opts: { failWhen?: (items: number[]) => boolean } = {}) {
  const batches: number[][] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  return {
    batches,
    hold() {
      gate = new Promise((resolve) => {
        release = resolve;
      });
    },
    release: () => release?.(),
    run: async (items: number[]) => {
      batches.push(items);
      if (gate) await gate;
      if (opts.failWhen?.(items)) throw new Error(`bad batch ${items.join(',')}`);
      return items.map((i) => i * 2);
    },
  };
}

describe('GroupCommit', () => {
  it('sends items submitted in the same turn as one batch, each caller getting its own result', async () => {
    const r = recorder();
    const group = new GroupCommit(r.run);
    const results = await Promise.all([1, 2, 3].map((i) => group.submit(i)));
    expect(results).toEqual([2, 4, 6]);
    expect(r.batches).toEqual([[1, 2, 3]]);
  });

  it('queues items while maxInFlight statements run and sends them together next', async () => {
    const r = recorder();
    const group = new GroupCommit(r.run, { maxInFlight: 1 });
    r.hold();
    const first = group.submit(1);
    await nextTurn();
    const later = [2, 3, 4].map((i) => group.submit(i));
    await nextTurn();
    expect(r.batches).toEqual([[1]]);
    r.release();
    expect(await Promise.all([first, ...later])).toEqual([2, 4, 6, 8]);
    expect(r.batches).toEqual([[1], [2, 3, 4]]);
  });

  it('keeps batches within maxBatch', async () => {
    const r = recorder();
    const group = new GroupCommit(r.run, { maxBatch: 2, maxInFlight: 10 });
    await Promise.all([1, 2, 3, 4, 5].map((i) => group.submit(i)));
    expect(r.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('never puts two items with the same key in one batch', async () => {
    const r = recorder();
    const group = new GroupCommit(r.run, { key: (i) => String(i % 2), maxInFlight: 1 });
    expect(await Promise.all([1, 3, 2, 5].map((i) => group.submit(i)))).toEqual([2, 6, 4, 10]);
    expect(r.batches).toEqual([[1, 2], [3], [5]]);
  });

  it('retries a failed batch item by item, so only the bad item fails', async () => {
    const r = recorder({ failWhen: (items) => items.includes(13) });
    const group = new GroupCommit(r.run, { retrySingly: () => true });
    const settled = await Promise.allSettled([12, 13, 14].map((i) => group.submit(i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(r.batches).toEqual([[12, 13, 14], [12], [13], [14]]);
  });

  it('fails the whole batch at once when the error is not worth retrying', async () => {
    const r = recorder({ failWhen: () => true });
    const group = new GroupCommit(r.run, { retrySingly: () => false });
    const settled = await Promise.allSettled([1, 2].map((i) => group.submit(i)));
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    expect(r.batches).toEqual([[1, 2]]);
    // The group keeps working afterwards.
    const ok = new GroupCommit(recorder().run);
    expect(await ok.submit(5)).toBe(10);
  });

  it('reports batch sizes, and drained() waits for queued and running batches', async () => {
    const r = recorder();
    const sizes: number[] = [];
    const group = new GroupCommit(r.run, { onBatch: (n) => sizes.push(n) });
    await group.drained();
    r.hold();
    const first = group.submit(1);
    await nextTurn();
    const later = [group.submit(2), group.submit(3)];
    let drained = false;
    const waiting = group.drained().then(() => {
      drained = true;
    });
    await nextTurn();
    expect(drained).toBe(false);
    r.release();
    await Promise.all([first, ...later, waiting]);
    expect(drained).toBe(true);
    expect(sizes).toEqual([1, 2]);
  });

  it('rejects every item when the run returns the wrong number of results', async () => {
    const group = new GroupCommit(async (items: number[]) => items.slice(1), {
      retrySingly: () => false,
    });
    await expect(Promise.all([1, 2].map((i) => group.submit(i)))).rejects.toThrow(
      '1 results for 2',
    );
  });
});
