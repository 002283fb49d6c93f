import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { mixedBytes } from '../test/reference.js';
import { HashingMeter, SizeLimitExceededError } from './hash-stream.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Streams `chunks` through a meter into a sink that records what got past the meter. */
async function meter(chunks: Uint8Array[], limitBytes?: number) {
  const hashing = new HashingMeter(limitBytes);
  const passed: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      passed.push(chunk);
      done();
    },
  });
  const error = await pipeline(
    Readable.from(chunks.map((c) => Buffer.from(c))),
    hashing,
    sink,
  ).then(
    () => null,
    (err: unknown) => err,
  );
  return { hashing, passed: Buffer.concat(passed), error };
}

describe('HashingMeter', () => {
  it('passes the bytes through unchanged with their SHA-256 and size', async () => {
    const data = mixedBytes(200_003, 21);
    const chunks = [data.subarray(0, 1), data.subarray(1, 65_537), data.subarray(65_537)];
    const { hashing, passed, error } = await meter(chunks);
    expect(error).toBeNull();
    expect(passed.equals(data)).toBe(true);
    expect(hashing.digest).toEqual({ sha256: sha256(data), sizeBytes: data.length });
    expect(hashing.bytesSeen).toBe(data.length);
  });

  it('digests an empty stream', async () => {
    const { hashing, error } = await meter([]);
    expect(error).toBeNull();
    expect(hashing.digest).toEqual({
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      sizeBytes: 0,
    });
  });

  it('accepts content exactly at the limit', async () => {
    const { hashing, passed, error } = await meter([new Uint8Array(10), new Uint8Array(5)], 15);
    expect(error).toBeNull();
    expect(passed.length).toBe(15);
    expect(hashing.digest.sizeBytes).toBe(15);
  });

  it('fails one byte over the limit before the offending chunk is passed on', async () => {
    const first = new Uint8Array(10).fill(1);
    const { passed, error } = await meter([first, new Uint8Array(6).fill(2)], 15);
    expect(error).toBeInstanceOf(SizeLimitExceededError);
    expect((error as SizeLimitExceededError).limitBytes).toBe(15);
    expect(passed.equals(first)).toBe(true);
  });

  it('passes nothing when the first chunk is already over the limit', async () => {
    const { passed, error } = await meter([new Uint8Array(16)], 15);
    expect(error).toBeInstanceOf(SizeLimitExceededError);
    expect(passed.length).toBe(0);
  });

  it('with a zero limit, accepts only an empty body', async () => {
    expect((await meter([], 0)).error).toBeNull();
    expect((await meter([new Uint8Array(1)], 0)).error).toBeInstanceOf(SizeLimitExceededError);
  });

  it('has no digest before the stream has ended', () => {
    const hashing = new HashingMeter();
    hashing.write(Buffer.from('abc'));
    expect(hashing.bytesSeen).toBe(3);
    expect(() => hashing.digest).toThrow(/before the stream ended/);
    hashing.destroy();
  });

  it('names the error for logs and problem details', () => {
    const error = new SizeLimitExceededError(1024);
    expect(error.name).toBe('SizeLimitExceededError');
    expect(error.message).toContain('1024');
  });
});
