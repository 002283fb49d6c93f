import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@scanner/core';
import { isMissing, sizeOnDisk, unlinkMeasured } from './file-ops.js';
import type { PhaseContext } from './phase-context.js';

export interface TempSweep {
  removed: number;
  bytes: number;
}

/**
 * Removes files in `{root}/.tmp` untouched for longer than `maxAgeMs`: uploads that died without
 * cleaning up (crash, kill -9). A live upload keeps writing, so its temp file stays fresh; the
 * bound must exceed the upload timeout.
 */
export async function sweepTempFiles(ctx: PhaseContext, maxAgeMs: number): Promise<TempSweep> {
  const dir = tempDir(ctx.storageRoot);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return { removed: 0, bytes: 0 };
    throw err;
  }
  const cutoff = Date.now() - maxAgeMs;
  const result: TempSweep = { removed: 0, bytes: 0 };
  for (const name of names) {
    if (ctx.signal.aborted) break;
    const path = join(dir, name);
    try {
      const stats = await lstat(path);
      if (!stats.isFile() || stats.mtimeMs >= cutoff) continue;
      const freed = ctx.dryRun ? await sizeOnDisk(path) : await unlinkMeasured(path);
      if (freed === null) continue;
      result.removed += 1;
      result.bytes += freed;
    } catch (err) {
      if (isMissing(err)) continue;
      ctx.log.warn({ err, path }, 'could not remove temp file');
    }
  }
  return result;
}
