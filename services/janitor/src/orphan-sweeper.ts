import { randomBytes } from 'node:crypto';
import { lstat, readdir, rename, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { contentPath, sha256FromRelativePath, tempDir } from '@scanner/core';
import { blobPresence, lockForOrphanRemoval } from '@scanner/db';
import { isMissing } from './file-ops.js';
import type { PhaseContext } from './phase-context.js';

const FANOUT = /^[0-9a-f]{2}$/;

export interface OrphanSweep {
  removed: number;
  bytes: number;
  dirsPruned: number;
}

interface Candidate {
  sha256: string;
  ino: number;
  size: number;
}

/**
 * Removes files at content addresses that no content claims (no `files` row, or a row saying the
 * blob is gone) and that are older than `maxAgeMs`, then optionally the fan-out directories left
 * empty for as long. Anything that is not a well-formed content address is left alone.
 */
export async function sweepOrphans(
  ctx: PhaseContext,
  maxAgeMs: number,
  opts: { pruneEmptyDirs: boolean },
): Promise<OrphanSweep> {
  const cutoff = Date.now() - maxAgeMs;
  const result: OrphanSweep = { removed: 0, bytes: 0, dirsPruned: 0 };
  let batch: Candidate[] = [];
  const flush = async () => {
    const presence = await blobPresence(
      ctx.db,
      batch.map((c) => c.sha256),
    );
    for (const c of batch) {
      if (presence.get(c.sha256) === true || ctx.signal.aborted) continue;
      const freed = ctx.dryRun ? c.size : await removeOrphan(ctx, c, cutoff);
      if (freed === null) continue;
      result.removed += 1;
      result.bytes += freed;
    }
    batch = [];
  };
  for await (const candidate of oldContentFiles(ctx, cutoff)) {
    batch.push(candidate);
    if (batch.length >= ctx.batchSize) await flush();
  }
  if (batch.length > 0) await flush();
  if (opts.pruneEmptyDirs && !ctx.signal.aborted)
    result.dirsPruned = await pruneEmptyFanout(ctx, cutoff);
  return result;
}

async function* oldContentFiles(ctx: PhaseContext, cutoff: number): AsyncGenerator<Candidate> {
  for (const a of await fanoutDirs(ctx.storageRoot)) {
    for (const b of await fanoutDirs(join(ctx.storageRoot, a))) {
      if (ctx.signal.aborted) return;
      const dir = join(ctx.storageRoot, a, b);
      for (const name of await listNames(dir)) {
        const sha256 = sha256FromRelativePath(`${a}/${b}/${name}`);
        if (!sha256) continue;
        try {
          const stats = await lstat(join(dir, name));
          if (stats.isFile() && stats.mtimeMs < cutoff)
            yield { sha256, ino: stats.ino, size: stats.size };
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      }
    }
  }
}

/**
 * A row lock covers content that has a row. Content with none cannot be locked, and an upload of
 * it inserts its row, commits, then renames its bytes over this address: so the file is first moved
 * aside (atomically) and deleted only if it is still the very file judged old; a newer arrival is
 * put back (same content, same bytes).
 */
async function removeOrphan(
  ctx: PhaseContext,
  c: Candidate,
  cutoff: number,
): Promise<number | null> {
  const path = contentPath(ctx.storageRoot, c.sha256);
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      const check = await lockForOrphanRemoval(trx, c.sha256);
      if (check === 'blob-present' || check === 'busy') return null;
      const current = await lstat(path);
      if (current.ino !== c.ino) return null;
      const aside = join(
        tempDir(ctx.storageRoot),
        `orphan-${c.sha256}-${randomBytes(4).toString('hex')}.del`,
      );
      await rename(path, aside);
      const moved = await lstat(aside);
      if (moved.ino !== c.ino || moved.mtimeMs >= cutoff) {
        await rename(aside, path);
        return null;
      }
      await unlink(aside);
      ctx.log.info(
        { sha256: c.sha256, reason: check, sizeBytes: moved.size },
        'removed orphan content file',
      );
      return moved.size;
    });
  } catch (err) {
    if (isMissing(err)) return null;
    ctx.log.warn({ err, sha256: c.sha256 }, 'could not remove orphan content file');
    return null;
  }
}

/**
 * Removes fan-out directories that are empty and were last changed before the cutoff. A directory
 * an upload just created is fresh, so it is never pruned under that upload; rmdir refuses a
 * directory that gained a file meanwhile; and placement recreates a missing directory anyway.
 * Removing a leaf touches its parent, so a parent goes at a later pass.
 */
async function pruneEmptyFanout(ctx: PhaseContext, cutoff: number): Promise<number> {
  let pruned = 0;
  for (const a of await fanoutDirs(ctx.storageRoot)) {
    const parent = join(ctx.storageRoot, a);
    for (const b of await fanoutDirs(parent)) {
      if (await pruneIfEmptyAndOld(join(parent, b), cutoff, ctx.dryRun)) pruned += 1;
    }
    if (await pruneIfEmptyAndOld(parent, cutoff, ctx.dryRun)) pruned += 1;
  }
  return pruned;
}

async function pruneIfEmptyAndOld(dir: string, cutoff: number, dryRun: boolean): Promise<boolean> {
  try {
    const stats = await lstat(dir);
    if (!stats.isDirectory() || stats.mtimeMs >= cutoff) return false;
    if ((await readdir(dir)).length > 0) return false;
    if (!dryRun) await rmdir(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw err;
  }
}

async function fanoutDirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && FANOUT.test(e.name)).map((e) => e.name);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

async function listNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}
