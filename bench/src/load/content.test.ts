import { describe, expect, it } from 'vitest';
import { referenceCounts } from '../fixtures.js';
import { MiB, percentile } from '../harness.js';
import {
  contentBuffer,
  contentChunks,
  expectedCounts,
  multipartFrame,
  reprDigest,
  sha256Hex,
  stamp,
} from './content.js';

describe('bench content', () => {
  const shape = { bytes: 1024, salt: '123456789012' };

  it('stamps differ per index, count nothing, and keep the counts known', () => {
    expect(stamp(shape.salt, 7).toString()).toBe('123456789012000000000007');
    const a = contentBuffer(shape, 1);
    const b = contentBuffer(shape, 2);
    expect(a).toHaveLength(1024);
    expect(sha256Hex([a])).not.toBe(sha256Hex([b]));
    expect(referenceCounts(a)).toEqual(expectedCounts(1024));
    expect(referenceCounts(b)).toEqual(expectedCounts(1024));
  });

  it('streams the same bytes it builds in memory, whole MiB at a time', () => {
    const big = { bytes: 3 * MiB, salt: shape.salt };
    const whole = contentBuffer(big, 5);
    expect(Buffer.concat([...contentChunks(big, 5)])).toEqual(whole);
    expect(referenceCounts(whole)).toEqual(expectedCounts(3 * MiB));
  });

  it('frames one file part and states the digest as RFC 9530 wants it', () => {
    const { head, tail } = multipartFrame('x.bin');
    expect(head.toString()).toContain('name="file"; filename="x.bin"');
    expect(tail.toString()).toMatch(/^\r\n--.+--\r\n$/);
    expect(reprDigest('00'.repeat(32))).toBe(`sha-256=:${Buffer.alloc(32).toString('base64')}:`);
  });

  it('refuses sizes that are not a tile or whole tiles', () => {
    expect(() => contentBuffer({ bytes: MiB + 1, salt: shape.salt }, 0)).toThrow();
  });
});

describe('percentile', () => {
  it('takes the nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 0.5)).toBe(50);
    expect(percentile(sorted, 0.99)).toBe(99);
    expect(percentile([3], 0.99)).toBe(3);
    expect(percentile([], 0.5)).toBeNaN();
  });
});
