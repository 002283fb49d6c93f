import { describe, expect, it } from 'vitest';
import { isLetterCounts, LETTERS, zeroCounts } from './letters.js';

describe('LETTERS', () => {
  it('lists A to Z in order', () => {
    expect(LETTERS.join('')).toBe('ABCDEFGHIJKLMNOPQRSTUVWXYZ');
  });
});

describe('zeroCounts', () => {
  it('has all 26 letters at zero and a fresh object each time', () => {
    const counts = zeroCounts();
    expect(Object.keys(counts)).toEqual([...LETTERS]);
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
    counts.A = 5;
    expect(zeroCounts().A).toBe(0);
  });
});

describe('isLetterCounts', () => {
  it('accepts exactly 26 letters with non-negative integer counts', () => {
    expect(isLetterCounts(zeroCounts())).toBe(true);
    expect(isLetterCounts({ ...zeroCounts(), Q: 2 ** 40 })).toBe(true);
  });

  it('rejects a missing, extra or lowercase key', () => {
    const { A: _dropped, ...missing } = zeroCounts();
    expect(isLetterCounts(missing)).toBe(false);
    expect(isLetterCounts({ ...zeroCounts(), AA: 0 })).toBe(false);
    const { Z: _z, ...rest } = zeroCounts();
    expect(isLetterCounts({ ...rest, z: 0 })).toBe(false);
  });

  it('rejects counts that are not non-negative safe integers', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1', null]) {
      expect(isLetterCounts({ ...zeroCounts(), M: bad }), String(bad)).toBe(false);
    }
  });

  it('rejects what is not a plain record', () => {
    for (const bad of [null, undefined, 0, 'ABC', [], new Array(26).fill(0)]) {
      expect(isLetterCounts(bad)).toBe(false);
    }
  });
});
