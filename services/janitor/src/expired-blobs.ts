import { contentPath } from '@scanner/core';
import { claimExpiredBlobs, findExpiredBlobs, restoreBlobs } from '@scanner/db';
import { sizeOnDisk, unlinkMeasured } from './file-ops.js';
import type { PhaseContext } from './phase-context.js';

export interface BlobDeletion {
  filesDeleted: number;
  bytesDeleted: number;
  /** Rows that said the blob was stored when it was already gone (now corrected). */
  missing: number;
  failures: number;
  interrupted: boolean;
}

/**
 * Deletes the stored files of scanned content last uploaded longer than `retentionMs` ago. Each
 * batch is one transaction: lock and mark the rows (skipping rows an upload holds), unlink, commit.
 * The unlink happens under the row lock, so an upload of the same content either ran before (and
 * made it recent, so it is not claimed) or runs after and sees `blob_present = false`.
 * If the commit fails after unlinking, the rows still say "present" for files that are gone; the
 * next pass claims them again, finds nothing to unlink and corrects them.
 */
export async function deleteExpiredBlobs(
  ctx: PhaseContext,
  retentionMs: number,
): Promise<BlobDeletion> {
  if (ctx.dryRun) return previewExpiredBlobs(ctx, retentionMs);
  const total: BlobDeletion = {
    filesDeleted: 0,
    bytesDeleted: 0,
    missing: 0,
    failures: 0,
    interrupted: false,
  };
  for (;;) {
    if (ctx.signal.aborted) {
      total.interrupted = true;
      break;
    }
    const batch = await ctx.db.transaction().execute(async (trx) => {
      const claimed = await claimExpiredBlobs(trx, { retentionMs, limit: ctx.batchSize });
      const failed: string[] = [];
      let files = 0;
      let bytes = 0;
      let missing = 0;
      for (const blob of claimed) {
        try {
          const freed = await unlinkMeasured(contentPath(ctx.storageRoot, blob.sha256));
          if (freed === null) {
            missing += 1;
          } else {
            files += 1;
            bytes += freed;
          }
        } catch (err) {
          ctx.log.error(
            { err, sha256: blob.sha256 },
            'could not delete content file; keeping it recorded',
          );
          failed.push(blob.sha256);
        }
      }
      await restoreBlobs(trx, failed);
      return { claimed: claimed.length, files, bytes, missing, failed: failed.length };
    });
    total.filesDeleted += batch.files;
    total.bytesDeleted += batch.bytes;
    total.missing += batch.missing;
    total.failures += batch.failed;
    // Restored rows would be claimed again at once: leave them to the next pass.
    if (batch.claimed === 0 || batch.failed > 0) break;
  }
  if (total.missing > 0) {
    ctx.log.warn(
      { count: total.missing },
      'content rows said stored but the files were missing; corrected',
    );
  }
  return total;
}

async function previewExpiredBlobs(ctx: PhaseContext, retentionMs: number): Promise<BlobDeletion> {
  const total: BlobDeletion = {
    filesDeleted: 0,
    bytesDeleted: 0,
    missing: 0,
    failures: 0,
    interrupted: false,
  };
  let after: string | undefined;
  for (;;) {
    if (ctx.signal.aborted) {
      total.interrupted = true;
      break;
    }
    const page = await findExpiredBlobs(ctx.db, {
      retentionMs,
      limit: ctx.batchSize,
      ...(after === undefined ? {} : { afterSha256: after }),
    });
    for (const blob of page) {
      const size = await sizeOnDisk(contentPath(ctx.storageRoot, blob.sha256));
      if (size === null) {
        total.missing += 1;
      } else {
        total.filesDeleted += 1;
        total.bytesDeleted += size;
      }
    }
    if (page.length < ctx.batchSize) break;
    after = page[page.length - 1]?.sha256;
  }
  return total;
}
