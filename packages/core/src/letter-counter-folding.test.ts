import { describe, expect, it, vi } from 'vitest';
import { mixedBytes, randomChunks, referenceCounts, seededRandom } from '../test/reference.js';
import type { CountKernel } from './count-kernel.js';

// Records the size of every kernel call while still counting for real.
const calls: { kernel: string; bytes: number }[] = [];
function recording(kernel: string, real: CountKernel): CountKernel {
  return (bytes, totals) => {
    calls.push({ kernel, bytes: bytes.byteLength });
    real(bytes, totals);
  };
}

vi.mock('./count-kernel-js.js', async (load) => {
  const real = await load<typeof import('./count-kernel-js.js')>();
  return { ...real, countWithJs: recording('js', real.countWithJs) };
});
vi.mock('./count-kernel-wasm.js', async (load) => {
  const real = await load<typeof import('./count-kernel-wasm.js')>();
  return { ...real, countWithWasm: recording('wasm', real.countWithWasm) };
});

const { LetterCounter } = await import('./letter-counter.js');

describe.each(['js', 'wasm'] as const)('folding with the %s kernel', (kernel) => {
  it('never hands a kernel more bytes than the fold interval', () => {
    const data = mixedBytes(50_000, 11);
    const random = seededRandom(12);
    for (const foldEveryBytes of [1, 7, 4096]) {
      calls.length = 0;
      const counter = new LetterCounter({ kernel, foldEveryBytes });
      for (const [start, end] of randomChunks(data.length, 20_000, random)) {
        counter.update(data.subarray(start, end));
      }
      expect(counter.counts()).toEqual(referenceCounts(data));
      expect(calls.every((call) => call.kernel === kernel)).toBe(true);
      expect(Math.max(...calls.map((call) => call.bytes))).toBeLessThanOrEqual(foldEveryBytes);
      expect(calls.reduce((sum, call) => sum + call.bytes, 0)).toBe(data.length);
    }
  });

  it('splits one chunk into full intervals and a remainder', () => {
    calls.length = 0;
    new LetterCounter({ kernel, foldEveryBytes: 1000 }).update(new Uint8Array(3500));
    expect(calls.map((call) => call.bytes)).toEqual([1000, 1000, 1000, 500]);
  });

  it('passes chunks within the interval through whole', () => {
    calls.length = 0;
    new LetterCounter({ kernel }).update(new Uint8Array(3_000_000));
    expect(calls.map((call) => call.bytes)).toEqual([3_000_000]);
  });
});
