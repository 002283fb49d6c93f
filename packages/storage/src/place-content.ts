import { mkdir, rename, unlink } from 'node:fs/promises';
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

// Fan-out directories this process has created or seen: a new content usually lands in a directory
// that does not exist yet (there are 65,536 of them), and a failed rename, a mkdir and a second
// rename per upload is measurable. The janitor may prune one later: rename then fails with ENOENT
// and the directory is created again.
const knownDirs = new Set<string>();

/**
 * Moves a finished temp file to its content address. rename() on the same filesystem is atomic:
 * readers see either no file or the complete one, and replacing an existing copy of the same
 * content is harmless (the bytes are identical by definition).
 */
export async function placeContent(
  tempPath: string,
  root: string,
  sha256: string,
): Promise<string> {
  const target = contentPath(root, sha256);
  const dir = dirname(target);
  if (!knownDirs.has(dir)) {
    await mkdir(dir, { recursive: true });
    knownDirs.add(dir);
  }
  try {
    await rename(tempPath, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    knownDirs.delete(dir);
    await mkdir(dir, { recursive: true });
    knownDirs.add(dir);
    await rename(tempPath, target);
  }
  return target;
}
