import { lstat, unlink } from 'node:fs/promises';

export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Size of a file, or null when there is none. */
export async function sizeOnDisk(path: string): Promise<number | null> {
  try {
    return (await lstat(path)).size;
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** Unlinks a file and returns the bytes it held; null when it was already gone. */
export async function unlinkMeasured(path: string): Promise<number | null> {
  const size = await sizeOnDisk(path);
  if (size === null) return null;
  try {
    await unlink(path);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  return size;
}
