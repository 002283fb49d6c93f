import { mkdirSync, renameSync, unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { contentPath } from '@scanner/core';

/** Deletes a file, treating "already gone" as success. */
export async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** `removeQuietly` without leaving the event loop (for the synchronous small-content path). */
export function removeQuietlySync(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

// Fan-out directories this process has created or seen: a new content usually lands in a directory
// that does not exist yet (there are 65,536 of them), and a failed rename, a mkdir and a second
// rename per upload is measurable. The janitor may prune one later: rename then fails with ENOENT
// and the directory is created again.
const knownDirs = new Set<string>();

/**
 * Moves a finished temp file to its content address. rename() on the same filesystem is atomic:
 * readers see either no file or the complete one, and replacing an existing copy of the same
 * content is harmless (the bytes are identical by definition).
 *
 * Synchronous on purpose: a rename (and now and then a mkdir) takes microseconds, while each trip
 * through libuv's thread pool wakes a pool thread and back, which on a busy machine costs more
 * than the call itself (see storeContent).
 */
export function placeContentSync(tempPath: string, root: string, sha256: string): string {
  const target = contentPath(root, sha256);
  const dir = dirname(target);
  if (!knownDirs.has(dir)) {
    mkdirSync(dir, { recursive: true });
    knownDirs.add(dir);
  }
  try {
    renameSync(tempPath, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    knownDirs.delete(dir);
    mkdirSync(dir, { recursive: true });
    knownDirs.add(dir);
    renameSync(tempPath, target);
  }
  return target;
}

/** `placeContentSync` for callers that await. */
export async function placeContent(
  tempPath: string,
  root: string,
  sha256: string,
): Promise<string> {
  return placeContentSync(tempPath, root, sha256);
}
