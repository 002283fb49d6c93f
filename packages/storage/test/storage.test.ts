import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { contentPath, type Sha256Hex, SizeLimitExceededError, tempDir } from '@scanner/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  discardContent,
  ensureVolumeLayout,
  measureVolume,
  placeContent,
  receiveContent,
  removeQuietly,
  storeContent,
} from '../src/index.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'scanner-storage-'));
  await ensureVolumeLayout(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('receiveContent', () => {
  const hello = 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9';

  it('keeps a body within memoryBytes in memory and digests it in the same pass', async () => {
    const content = await receiveContent(
      Readable.from([Buffer.from('hello '), Buffer.from('world')]),
      root,
      { memoryBytes: 11 },
    );
    expect(content).toMatchObject({ kind: 'memory', sizeBytes: 11, sha256: hello });
    expect(content.kind === 'memory' && content.bytes.toString()).toBe('hello world');
    expect(await readdir(tempDir(root))).toEqual([]);
  });

  it('moves to a temp file under .tmp once memoryBytes would be exceeded, keeping every byte in order', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1000, 65 + (i % 26)));
    const content = await receiveContent(Readable.from(chunks), root, { memoryBytes: 4096 });
    expect(content.kind).toBe('file');
    if (content.kind !== 'file') return;
    expect(content.path.startsWith(tempDir(root))).toBe(true);
    expect(await readFile(content.path)).toEqual(Buffer.concat(chunks));
    expect(content.sizeBytes).toBe(40_000);
    expect(content.sha256).toBe(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
  });

  it('writes every non-empty body to a temp file with memoryBytes 0 (the default)', async () => {
    const content = await receiveContent(Readable.from([Buffer.from('hello world')]), root);
    expect(content).toMatchObject({ kind: 'file', sha256: hello });
  });

  it('leaves nothing behind when the limit is crossed, in memory or on disk', async () => {
    for (const memoryBytes of [0, 64, 1 << 20]) {
      await expect(
        receiveContent(Readable.from([Buffer.alloc(100), Buffer.alloc(100)]), root, {
          limitBytes: 150,
          memoryBytes,
        }),
      ).rejects.toBeInstanceOf(SizeLimitExceededError);
    }
    expect(await readdir(tempDir(root))).toEqual([]);
  });

  it('fails, leaving nothing, when the source fails, ends early or the caller aborts, in memory or on disk', async () => {
    for (const memoryBytes of [0, 4, 1024]) {
      const failing = new PassThrough();
      const pending = receiveContent(failing, root, { memoryBytes });
      failing.write('partial');
      failing.destroy(new Error('client went away'));
      await expect(pending).rejects.toThrow('client went away');
      const cut = new PassThrough();
      const early = receiveContent(cut, root, { memoryBytes });
      cut.write('partial');
      cut.destroy();
      await expect(early).rejects.toThrow();
      const stalled = new PassThrough();
      const abort = new AbortController();
      const aborted = receiveContent(stalled, root, { memoryBytes, signal: abort.signal });
      stalled.write('partial');
      await new Promise((resolve) => setImmediate(resolve));
      abort.abort(new Error('timeout'));
      await expect(aborted).rejects.toThrow();
      expect(stalled.destroyed).toBe(true);
    }
    expect(await readdir(tempDir(root))).toEqual([]);
  });

  it('fails and removes the temp file when the disk write fails', async () => {
    await rm(tempDir(root), { recursive: true });
    await expect(
      receiveContent(Readable.from([Buffer.alloc(100)]), root, { memoryBytes: 10 }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('storeContent and placeContent', () => {
  const sha = 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9';

  it('stores content from memory or from a temp file at its content address; an identical copy may be replaced', async () => {
    for (const memoryBytes of [0, 1024, 0]) {
      const content = await receiveContent(Readable.from([Buffer.from('hello world')]), root, {
        memoryBytes,
      });
      expect(await storeContent(content, root)).toBe(contentPath(root, sha));
      await discardContent(content);
    }
    expect(await readFile(join(root, 'b9', '4d', sha), 'utf8')).toBe('hello world');
    expect(await readdir(tempDir(root))).toEqual([]);
  });

  it('stores an empty body received in memory', async () => {
    const content = await receiveContent(Readable.from([]), root, { memoryBytes: 1024 });
    const path = await storeContent(content, root);
    expect(await readFile(path)).toEqual(Buffer.alloc(0));
  });

  it('discards a temp file that was not needed', async () => {
    const content = await receiveContent(Readable.from([Buffer.from('hello world')]), root);
    await discardContent(content);
    expect(await readdir(tempDir(root))).toEqual([]);
  });

  it('refuses anything that is not a content address', async () => {
    await expect(placeContent(join(root, 'x'), root, '../../etc/passwd')).rejects.toThrow(
      TypeError,
    );
    await expect(
      storeContent(
        {
          kind: 'memory',
          bytes: Buffer.from('x'),
          sha256: '../../etc/passwd' as Sha256Hex,
          sizeBytes: 1,
        },
        root,
      ),
    ).rejects.toThrow(TypeError);
    expect(await readdir(tempDir(root))).toEqual([]);
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
