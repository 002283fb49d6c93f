import { createHash } from 'node:crypto';
import { type FileReadResult, open } from 'node:fs/promises';
import { LetterCounter } from './letter-counter.js';
import type { LetterCounts } from './letters.js';

export interface FileScan {
  counts: LetterCounts;
  sizeBytes: number;
  /** SHA-256 of the bytes read, when verification was asked for. */
  sha256: string | null;
}

export interface ScanOptions {
  verify: boolean;
  /** Largest read (default 1 MiB). */
  chunkBytes?: number;
  /** The size the file should have: small files then get small buffers. */
  sizeHint?: number;
  signal?: AbortSignal;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;
const MIN_HINTED_CHUNK_BYTES = 4096;

/**
 * Reads a file once in fixed-size chunks, counting letters and, when asked, hashing the same bytes
 * to prove the file is intact. Memory stays flat whatever the size: two chunk buffers, reused.
 */
export async function scanFile(path: string, options: ScanOptions): Promise<FileScan> {
  const maxChunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(maxChunkBytes) || maxChunkBytes < 1) {
    throw new RangeError(`chunkBytes must be a positive integer, got ${maxChunkBytes}`);
  }
  // Small files are the common case: two 1 MiB buffers per scan of a 1 KiB file would be mostly
  // garbage. One byte more than the expected size lets the first read see the whole file.
  const chunkBytes =
    options.sizeHint === undefined
      ? maxChunkBytes
      : Math.min(maxChunkBytes, Math.max(MIN_HINTED_CHUNK_BYTES, options.sizeHint + 1));
  options.signal?.throwIfAborted();
  const counter = new LetterCounter();
  const hash = options.verify ? createHash('sha256') : null;
  // While this thread counts one buffer, the next read fills the other on libuv's thread pool, so
  // the copy out of the page cache costs (nearly) no time on the counting thread.
  let spare: Buffer = Buffer.allocUnsafe(chunkBytes);
  const handle = await open(path, 'r');
  let sizeBytes = 0;
  let reading: Promise<FileReadResult<Buffer>> | null = null;
  // Reads are sequential (position null, never more than one in flight), so anything readable in
  // order works, not only regular files that can seek.
  try {
    reading = handle.read(Buffer.allocUnsafe(chunkBytes), 0, chunkBytes, null);
    for (;;) {
      const { bytesRead, buffer } = await reading;
      reading = null;
      if (bytesRead === 0) break;
      sizeBytes += bytesRead;
      options.signal?.throwIfAborted();
      reading = handle.read(spare, 0, chunkBytes, null);
      const chunk = bytesRead === chunkBytes ? buffer : buffer.subarray(0, bytesRead);
      counter.update(chunk);
      hash?.update(chunk);
      spare = buffer;
    }
  } finally {
    // A read started ahead must settle before the descriptor closes; its outcome no longer matters
    // because an error is already on its way out.
    await reading?.catch(() => undefined);
    await handle.close();
  }
  return { counts: counter.counts(), sizeBytes, sha256: hash ? hash.digest('hex') : null };
}
