import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { contentPath, SizeLimitExceededError, tempDir } from '@scanner/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ensureVolumeLayout,
  measureVolume,
  placeContent,
  removeQuietly,
  writeHashedTempFile,
} from '../src/index.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'scanner-storage-'));
  await ensureVolumeLayout(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writeHashedTempFile', () => {
  it('writes the stream under .tmp and digests it in the same pass', async () => {
    const file = await writeHashedTempFile(
      Readable.from([Buffer.from('hello '), Buffer.from('world')]),
      root,
    );
    expect(file.sizeBytes).toBe(11);
    expect(file.sha256).toBe('b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9');
    expect(file.path.startsWith(tempDir(root))).toBe(true);
    expect(await readFile(file.path, 'utf8')).toBe('hello world');
  });

  it('removes the temp file when the limit is crossed', async () => {
    await expect(
      writeHashedTempFile(Readable.from([Buffer.alloc(10), Buffer.alloc(10)]), root, {
        limitBytes: 15,
      }),
    ).rejects.toBeInstanceOf(SizeLimitExceededError);
    expect(await readdir(tempDir(root))).toEqual([]);
  });

  it('removes the temp file when the source fails or the caller aborts', async () => {
    const failing = new PassThrough();
    const pending = writeHashedTempFile(failing, root);
    failing.write('partial');
    failing.destroy(new Error('client went away'));
    await expect(pending).rejects.toThrow('client went away');
    const stalled = new PassThrough();
    const abort = new AbortController();
    const aborted = writeHashedTempFile(stalled, root, { signal: abort.signal });
    stalled.write('partial');
    abort.abort(new Error('timeout'));
    await expect(aborted).rejects.toThrow();
    expect(await readdir(tempDir(root))).toEqual([]);
  });
});

describe('placeContent', () => {
  it('renames into the content address, creating the fan-out directories, and may replace an identical copy', async () => {
    const sha = 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9';
    for (let i = 0; i < 2; i++) {
      const file = await writeHashedTempFile(Readable.from([Buffer.from('hello world')]), root);
      expect(await placeContent(file.path, root, file.sha256)).toBe(contentPath(root, sha));
    }
    expect(await readFile(join(root, 'b9', '4d', sha), 'utf8')).toBe('hello world');
    expect(await readdir(tempDir(root))).toEqual([]);
  });

  it('refuses anything that is not a content address', async () => {
    await expect(placeContent(join(root, 'x'), root, '../../etc/passwd')).rejects.toThrow(
      TypeError,
    );
  });
});

describe('removeQuietly and measureVolume', () => {
  it('treats a missing file as removed', async () => {
    await expect(removeQuietly(join(root, 'nothing'))).resolves.toBeUndefined();
  });

  it('reports usage of the filesystem like df', async () => {
    const usage = await measureVolume(root);
    expect(usage.totalBytes).toBeGreaterThan(0);
    expect(usage.usedBytes + usage.freeBytes).toBe(usage.totalBytes);
    expect(usage.usedRatio).toBeGreaterThanOrEqual(0);
    expect(usage.usedRatio).toBeLessThanOrEqual(1);
  });
});
