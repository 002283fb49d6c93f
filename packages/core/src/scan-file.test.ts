import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mixedBytes, referenceCounts } from '../test/reference.js';
import { countLetters } from './letter-counter.js';
import { zeroCounts } from './letters.js';
import { scanFile } from './scan-file.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let dir: string;
const files = {
  // Past the default 1 MiB chunk, so the default reads several chunks and a short last one.
  large: { path: '', bytes: mixedBytes((1 << 20) * 2 + 12_345, 31) },
  small: { path: '', bytes: mixedBytes(3001, 32) },
  empty: { path: '', bytes: new Uint8Array(0) },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'core-scan-file-'));
  for (const [name, file] of Object.entries(files)) {
    file.path = join(dir, name);
    await writeFile(file.path, file.bytes);
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('scanFile', () => {
  it.each([
    // An odd size, so chunk ends never line up with 4-byte words (tiny chunks over 2 MiB would
    // be hundreds of thousands of reads: the small file covers 1 and 7).
    ['large', 4093],
    ['large', 65_536],
    ['large', undefined],
    ['small', 1],
    ['small', 7],
    ['small', 65_536],
    ['small', undefined],
  ] as const)(
    'counts the %s file in chunks of %s bytes, with and without verifying',
    async (name, chunkBytes) => {
      const { path, bytes } = files[name];
      const expected = referenceCounts(bytes);
      const verified = await scanFile(path, { verify: true, chunkBytes });
      expect(verified).toEqual({
        counts: expected,
        sizeBytes: bytes.length,
        sha256: sha256(bytes),
      });
      const unverified = await scanFile(path, { verify: false, chunkBytes });
      expect(unverified).toEqual({ counts: expected, sizeBytes: bytes.length, sha256: null });
    },
  );

  it('scans an empty file', async () => {
    expect(await scanFile(files.empty.path, { verify: true })).toEqual({
      counts: zeroCounts(),
      sizeBytes: 0,
      sha256: sha256(new Uint8Array(0)),
    });
  });

  it('stops with the abort reason when the signal is aborted', async () => {
    const reason = new Error('shutting down');
    await expect(
      scanFile(files.large.path, { verify: true, signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
  });

  it('stops part-way when the signal fires during the scan', async () => {
    const controller = new AbortController();
    const scan = scanFile(files.large.path, {
      verify: false,
      chunkBytes: 4096,
      signal: controller.signal,
    });
    controller.abort(new Error('later'));
    await expect(scan).rejects.toThrow('later');
  });

  it('rejects a missing file or a directory', async () => {
    await expect(scanFile(join(dir, 'missing'), { verify: false })).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await mkdir(join(dir, 'a-dir'));
    await expect(scanFile(join(dir, 'a-dir'), { verify: false })).rejects.toMatchObject({
      code: 'EISDIR',
    });
  });

  it('rejects a chunk size that is not a positive integer', async () => {
    for (const chunkBytes of [0, -1, 1.5]) {
      await expect(scanFile(files.small.path, { verify: false, chunkBytes })).rejects.toThrow(
        RangeError,
      );
    }
  });
});

describe('scanFile with a size hint', () => {
  it('counts exactly whether the hint is right, too small or too large', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scan-hint-'));
    try {
      const bytes = Buffer.from('Hint me: abcXYZ '.repeat(1000));
      const path = join(dir, 'f');
      await writeFile(path, bytes);
      for (const sizeHint of [bytes.length, 10, bytes.length * 3, 0]) {
        const scan = await scanFile(path, { verify: true, sizeHint });
        expect(scan.counts).toEqual(countLetters(bytes));
        expect(scan.sizeBytes).toBe(bytes.length);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
