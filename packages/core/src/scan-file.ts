import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
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
  chunkBytes?: number;
  signal?: AbortSignal;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;

/**
 * Reads a file once in fixed-size chunks into one reused buffer (memory stays flat whatever the
 * size), counting letters and, when asked, hashing the same bytes to prove the file is intact.
 */
export async function scanFile(path: string, options: ScanOptions): Promise<FileScan> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const buffer = Buffer.allocUnsafe(chunkBytes);
  const counter = new LetterCounter();
  const hash = options.verify ? createHash('sha256') : null;
  const handle = await open(path, 'r');
  let sizeBytes = 0;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, chunkBytes, null);
      if (bytesRead === 0) break;
      const chunk = bytesRead === chunkBytes ? buffer : buffer.subarray(0, bytesRead);
      counter.update(chunk);
      hash?.update(chunk);
      sizeBytes += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return { counts: counter.counts(), sizeBytes, sha256: hash ? hash.digest('hex') : null };
}
