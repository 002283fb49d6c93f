import { describe, expect, it, vi } from 'vitest';
import { mixedBytes, randomChunks, referenceCounts, seededRandom } from '../test/reference.js';
import { foldLetterCells, type KernelName, MAX_BYTES_PER_KERNEL_CALL } from './count-kernel.js';
import { countLetters, DEFAULT_COUNT_KERNEL, LetterCounter } from './letter-counter.js';
import { LETTERS, type LetterCounts, zeroCounts } from './letters.js';

const KERNELS: KernelName[] = ['js', 'wasm'];

/** Zero counts with the given letters set, for readable expectations. */
function counts(partial: Partial<LetterCounts>): LetterCounts {
  return { ...zeroCounts(), ...partial };
}

const utf8 = (text: string) => Buffer.from(text, 'utf8');

describe('default kernel', () => {
  it('is WebAssembly on Node', () => {
    expect(DEFAULT_COUNT_KERNEL).toBe('wasm');
    expect(new LetterCounter().kernel).toBe('wasm');
  });

  it('falls back to JavaScript where the runtime has no WebAssembly', async () => {
    vi.resetModules();
    vi.stubGlobal('WebAssembly', undefined);
    try {
      const fresh = await import('./letter-counter.js');
      expect(fresh.DEFAULT_COUNT_KERNEL).toBe('js');
      expect(fresh.countLetters(utf8('Abc'))).toEqual(counts({ A: 1, B: 1, C: 1 }));
      expect(() => new fresh.LetterCounter({ kernel: 'wasm' })).toThrow(/unavailable/);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});

describe.each(KERNELS)('%s kernel', (kernel) => {
  const count = (bytes: Uint8Array) => countLetters(bytes, { kernel });

  it('folds case and ignores digits, punctuation and whitespace', () => {
    expect(count(utf8('Hello, World! 123 hELLO\twOrLd?'))).toEqual(
      counts({ H: 2, E: 2, L: 6, O: 4, W: 2, R: 2, D: 2 }),
    );
    expect(count(utf8('0123456789 !"#$%&\'()*+,-./:;<=>?[\\]^_{|}~'))).toEqual(zeroCounts());
  });

  it('counts the letters around the case-fold neighbours @ [ ` { exactly once', () => {
    expect(count(utf8('@AZ[`az{'))).toEqual(counts({ A: 2, Z: 2 }));
  });

  it('counts no byte of a multi-byte UTF-8 letter', () => {
    // é ß Ä, fullwidth Ａ ｚ, dotted İ, Kelvin sign, ﬀ ligature, Ohm sign, an emoji.
    const letters = ['\u00e9', '\u00df', '\u00c4', '\uff21', '\uff5a', '\u0130', '\u212a'];
    for (const text of [...letters, '\ufb00', '\u2126', '\u{1f600}']) {
      expect(count(utf8(text)), text).toEqual(zeroCounts());
    }
    // 'ß' stays nothing rather than becoming SS; only the ASCII letters around it count.
    expect(count(utf8('Straße'))).toEqual(counts({ S: 1, T: 1, R: 1, A: 1, E: 1 }));
    expect(count(utf8('Ａa Äb éc'))).toEqual(counts({ A: 1, B: 1, C: 1 }));
  });

  it('treats CRLF line ends as nothing', () => {
    expect(count(utf8('ab\r\nAB\r\n\r\n'))).toEqual(counts({ A: 2, B: 2 }));
  });

  it('gives all zeros for empty input', () => {
    expect(count(new Uint8Array(0))).toEqual(zeroCounts());
    expect(new LetterCounter({ kernel }).counts()).toEqual(zeroCounts());
  });

  it('counts each letter twice over all 256 byte values, in any order', () => {
    const all = Uint8Array.from({ length: 256 }, (_, b) => b);
    expect(count(all)).toEqual(Object.fromEntries(LETTERS.map((l) => [l, 2])));
    const shuffled = new Uint8Array(256 * 1000);
    const random = seededRandom(1);
    for (let i = 0; i < shuffled.length; i++) shuffled[i] = i & 0xff;
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as number, shuffled[i] as number];
    }
    expect(count(shuffled)).toEqual(Object.fromEntries(LETTERS.map((l) => [l, 2000])));
  });

  it('counts long runs of one byte (every increment on the same cell)', () => {
    expect(count(new Uint8Array(1_000_003).fill(0x71))).toEqual(counts({ Q: 1_000_003 }));
    expect(count(new Uint8Array(777_777).fill(0x5a))).toEqual(counts({ Z: 777_777 }));
  });

  it('matches the reference on random data of every length up to 100 bytes', () => {
    const data = mixedBytes(100, 2);
    for (let n = 0; n <= data.length; n++) {
      expect(count(data.subarray(0, n)), `length ${n}`).toEqual(
        referenceCounts(data.subarray(0, n)),
      );
    }
  });

  it('matches the reference on 3 MB of seeded random data', () => {
    const data = mixedBytes(3_000_017, 3);
    expect(count(data)).toEqual(referenceCounts(data));
  });

  it('gives the same counts however the input is split in two', () => {
    const data = mixedBytes(300, 4);
    const expected = referenceCounts(data);
    for (let cut = 0; cut <= data.length; cut++) {
      const counter = new LetterCounter({ kernel });
      counter.update(data.subarray(0, cut)).update(data.subarray(cut));
      expect(counter.counts(), `cut at ${cut}`).toEqual(expected);
    }
  });

  it('gives the same counts for many random chunkings, large chunks included', () => {
    const data = mixedBytes(1_500_000, 5);
    const expected = referenceCounts(data);
    const random = seededRandom(6);
    for (const maxChunk of [1, 17, 4096, 100_000, 700_000]) {
      const length = maxChunk === 1 ? 20_000 : data.length;
      const slice = data.subarray(0, length);
      const want = maxChunk === 1 ? referenceCounts(slice) : expected;
      const counter = new LetterCounter({ kernel });
      for (const [start, end] of randomChunks(length, maxChunk, random)) {
        counter.update(slice.subarray(start, end));
      }
      expect(counter.counts(), `chunks up to ${maxChunk}`).toEqual(want);
    }
  });

  it('reads subarrays at any byte offset of a larger buffer', () => {
    const backing = mixedBytes(70_000, 7);
    for (let offset = 0; offset < 9; offset++) {
      for (const length of [0, 1, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 1000, 65_537]) {
        const view = new Uint8Array(backing.buffer, backing.byteOffset + offset, length);
        expect(count(view), `offset ${offset} length ${length}`).toEqual(referenceCounts(view));
      }
    }
  });

  it('counts Buffers from the shared pool and over a SharedArrayBuffer', () => {
    const pooled = Buffer.from('xyzzy Plugh');
    expect(count(pooled)).toEqual(referenceCounts(pooled));
    const shared = new Uint8Array(new SharedArrayBuffer(10_003));
    shared.set(mixedBytes(10_003, 8));
    expect(count(shared.subarray(1))).toEqual(referenceCounts(shared.subarray(1)));
  });

  it('keeps counting after counts() and keeps counters apart', () => {
    const a = new LetterCounter({ kernel });
    const b = new LetterCounter({ kernel });
    a.update(utf8('aaa'));
    b.update(utf8('b'));
    expect(a.counts()).toEqual(counts({ A: 3 }));
    a.update(utf8('A'));
    b.update(utf8('B'));
    expect(a.counts()).toEqual(counts({ A: 4 }));
    expect(b.counts()).toEqual(counts({ B: 2 }));
  });

  it('stays exact when large chunks are split to fold often', () => {
    const data = mixedBytes(600_000, 9);
    const expected = referenceCounts(data);
    for (const foldEveryBytes of [1, 3, 16, 1000, 262_143, 262_144, 262_145]) {
      const counter = new LetterCounter({ kernel, foldEveryBytes });
      counter.update(data.subarray(0, 123_457)).update(data.subarray(123_457));
      expect(counter.counts(), `fold every ${foldEveryBytes}`).toEqual(expected);
    }
  });
});

describe('LetterCounter options', () => {
  it('rejects a fold interval a 32-bit cell could not hold', () => {
    for (const foldEveryBytes of [0, -1, 1.5, Number.NaN, MAX_BYTES_PER_KERNEL_CALL + 1]) {
      expect(() => new LetterCounter({ foldEveryBytes }), String(foldEveryBytes)).toThrow(
        RangeError,
      );
    }
    expect(() => new LetterCounter({ foldEveryBytes: MAX_BYTES_PER_KERNEL_CALL })).not.toThrow();
  });

  it('rejects an unknown kernel', () => {
    expect(() => new LetterCounter({ kernel: 'simd' as KernelName })).toThrow(TypeError);
  });

  it('defaults to the largest call that cannot wrap a 32-bit cell', () => {
    expect(MAX_BYTES_PER_KERNEL_CALL).toBe(2 ** 32 - 1);
  });
});

describe('foldLetterCells', () => {
  it('adds both cases of each letter across all tables into exact doubles and zeroes the tables', () => {
    const cells = new Uint32Array(256 * 8).fill(0xffff_ffff);
    const totals = new Float64Array(26);
    foldLetterCells(cells, 8, totals);
    // 8 tables x 2 cases of cells at 2^32 - 1: far past what a 32-bit sum could hold.
    expect([...totals]).toEqual(new Array(26).fill(16 * (2 ** 32 - 1)));
    expect(cells.every((cell) => cell === 0)).toBe(true);
    cells[65] = 0xffff_ffff;
    cells[256 + 97 + 25] = 1;
    foldLetterCells(cells, 8, totals);
    expect(totals[0]).toBe(17 * (2 ** 32 - 1));
    expect(totals[25]).toBe(16 * (2 ** 32 - 1) + 1);
  });

  it('ignores the cells of every other byte value', () => {
    const cells = new Uint32Array(256 * 4);
    for (let t = 0; t < 4; t++) {
      for (let b = 0; b < 256; b++) {
        const letter = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
        if (!letter) cells[t * 256 + b] = 1000;
      }
    }
    const totals = new Float64Array(26);
    foldLetterCells(cells, 4, totals);
    expect([...totals]).toEqual(new Array(26).fill(0));
  });
});
