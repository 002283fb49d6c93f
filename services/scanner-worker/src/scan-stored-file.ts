import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { type FileScan, LetterCounter, type ScanOptions, scanFile } from '@scanner/core';

/**
 * Stored files up to this size are read synchronously: stat, open, read, close straight from the
 * event loop, a few microseconds for a file in the page cache. Through libuv's thread pool the same
 * file costs four hand-offs to a pool thread and back, which for 1 KiB files was the largest single
 * cost of a scan (a third of the worker's main thread, on a busy 2-core machine mostly the context
 * switches). The bound keeps the time the loop can be held to one small read.
 */
export const SYNC_READ_MAX_BYTES = 64 * 1024;

/**
 * `scanFile` for a stored content, with a fast path for small regular files. Anything else (large,
 * not a regular file, not the recorded size) goes through `scanFile`, which streams it and reports
 * errors the usual way. `sizeHint` is the size recorded at upload.
 */
export async function scanStoredFile(
  path: string,
  options: ScanOptions & { sizeHint: number },
): Promise<FileScan> {
  if (options.sizeHint <= SYNC_READ_MAX_BYTES) {
    const scan = scanSmallFileSync(path, options.sizeHint, options.verify);
    if (scan) return scan;
  }
  return scanFile(path, options);
}

function scanSmallFileSync(path: string, sizeHint: number, verify: boolean): FileScan | null {
  // stat, not open: opening a FIFO (or a device) could block the event loop, stat never does; and
  // even a non-blocking open is a side effect (a FIFO's writer sees a reader come and go: EPIPE).
  const stats = statSync(path);
  if (!stats.isFile() || stats.size !== sizeHint) return null;
  const bytes = readWholeSync(path, sizeHint);
  return bytes && countSync(bytes, verify);
}

/**
 * The scan of a stored small file done before any claim, or null: not a regular file of at most
 * SYNC_READ_MAX_BYTES, unreadable, or bytes that do not hash to `sha256`. Only bytes that are the
 * content itself count, so the result is right whenever it is recorded; anything else is left to
 * the claim path, which reads the file again and reports what is wrong with it.
 */
export function scanVerifiedSmallFileSync(path: string, sha256: string): FileScan | null {
  try {
    const stats = statSync(path);
    if (!stats.isFile() || stats.size > SYNC_READ_MAX_BYTES) return null;
    const bytes = readWholeSync(path, stats.size);
    const scan = bytes && countSync(bytes, true);
    return scan?.sha256 === sha256 ? scan : null;
  } catch {
    return null;
  }
}

/** The file's bytes if it holds exactly `size` of them, else null. */
function readWholeSync(path: string, size: number): Buffer | null {
  const fd = openSync(path, 'r');
  try {
    // One byte more than expected, so that reading to the end takes one read and a file that has
    // grown since the stat is noticed (and left to the streaming path).
    const buffer = Buffer.allocUnsafe(size + 1);
    let filled = 0;
    for (;;) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (n === 0) break;
      filled += n;
      if (filled === buffer.length) return null;
    }
    return filled === size ? buffer.subarray(0, filled) : null;
  } finally {
    closeSync(fd);
  }
}

function countSync(bytes: Buffer, verify: boolean): FileScan {
  const counts = new LetterCounter().update(bytes).counts();
  const sha256 = verify ? createHash('sha256').update(bytes).digest('hex') : null;
  return { counts, sizeBytes: bytes.length, sha256 };
}
