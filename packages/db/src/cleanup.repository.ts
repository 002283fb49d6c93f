import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import type { Db } from './db.js';
import type { Database } from './schema.js';

// The janitor's side of the concurrency contract with uploads and workers. Every decision to delete
// a stored blob is taken while holding that content's `files` row lock, the same lock the upload
// gateway takes (SELECT … FOR UPDATE) before it places new bytes, or refreshes `last_uploaded_at`
// for a duplicate upload (for scanned content only once that is a minute old: see
// recordCompletedUploads). Rows someone else holds are skipped, never waited on: that someone is an
// upload, which is about to make the content recent (or pending) anyway.

/** Session-level advisory lock key shared by every janitor replica (scoped to the database). */
const CLEANUP_LOCK = 'scanner:janitor:cleanup';

export type LockOutcome<T> = { acquired: true; result: T } | { acquired: false };

/**
 * Runs `fn` only if no other janitor holds the cleanup lock. The lock lives on one dedicated
 * connection for the whole call (a pass spans many transactions); `fn` uses the pool as usual.
 * If that connection dies, Postgres drops the lock; the row locks still keep deletions safe.
 */
export async function withCleanupLock<T>(db: Db, fn: () => Promise<T>): Promise<LockOutcome<T>> {
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_lock(hashtext(${CLEANUP_LOCK})) as locked`.execute(conn);
    if (!rows[0]?.locked) return { acquired: false } as const;
    try {
      return { acquired: true, result: await fn() } as const;
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${CLEANUP_LOCK}))`.execute(conn);
    }
  });
}

export interface StoredBlob {
  sha256: string;
  sizeBytes: number;
}

/** Content whose blob may go: scanned (either way), still stored, last uploaded before the cutoff. */
function blobExpired(retentionMs: number) {
  return (eb: ExpressionBuilder<Database, 'files'>): Expression<SqlBool> =>
    eb.and([
      eb('blob_present', '=', true),
      eb('scan_status', 'in', ['completed', 'failed']),
      eb('last_uploaded_at', '<', sql<Date>`now() - make_interval(secs => ${retentionMs / 1000})`),
    ]);
}

/**
 * Inside the caller's transaction: locks up to `limit` expired blobs (skipping rows another
 * transaction holds), re-checks the condition under the lock and marks them deleted. The caller
 * unlinks the files and then commits, so the row lock covers the unlink; an upload that wants the
 * row waits and then sees `blob_present = false`.
 */
export async function claimExpiredBlobs(
  trx: Db,
  opts: { retentionMs: number; limit: number },
): Promise<StoredBlob[]> {
  const expired = blobExpired(opts.retentionMs);
  // MATERIALIZED: the locking subquery runs exactly once. Inlined as `IN (subquery)` Postgres may
  // rescan it per outer row, and each rescan skips the rows this statement already updated and
  // locks the next ones, overshooting the limit.
  const rows = await trx
    .with(
      (cte) => cte('claimed').materialized(),
      (db) =>
        db
          .selectFrom('files')
          .select('sha256')
          .where(expired)
          .orderBy('last_uploaded_at')
          .limit(opts.limit)
          .forUpdate()
          .skipLocked(),
    )
    .updateTable('files')
    .from('claimed')
    .set({ blob_present: false, blob_deleted_at: sql`now()`, updated_at: sql`now()` })
    .whereRef('files.sha256', '=', 'claimed.sha256')
    // The same condition again, evaluated on the locked (latest) row version.
    .where(expired)
    .returning(['files.sha256', 'files.size_bytes'])
    .execute();
  return rows.map((r) => ({ sha256: r.sha256, sizeBytes: r.size_bytes }));
}

/** Undoes `claimExpiredBlobs` for blobs that could not be unlinked, in the same transaction. */
export async function restoreBlobs(trx: Db, sha256s: string[]): Promise<void> {
  if (sha256s.length === 0) return;
  await trx
    .updateTable('files')
    .set({ blob_present: true, blob_deleted_at: null })
    .where('sha256', 'in', sha256s)
    .execute();
}

/** What `claimExpiredBlobs` would take, without locking anything: for dry runs. Keyset-paged. */
export async function findExpiredBlobs(
  db: Db,
  opts: { retentionMs: number; limit: number; afterSha256?: string },
): Promise<StoredBlob[]> {
  let query = db
    .selectFrom('files')
    .select(['sha256', 'size_bytes'])
    .where(blobExpired(opts.retentionMs))
    .orderBy('sha256')
    .limit(opts.limit);
  if (opts.afterSha256 !== undefined) query = query.where('sha256', '>', opts.afterSha256);
  const rows = await query.execute();
  return rows.map((r) => ({ sha256: r.sha256, sizeBytes: r.size_bytes }));
}

/** For each given content that has a row: whether the row says its blob is stored. */
export async function blobPresence(db: Db, sha256s: string[]): Promise<Map<string, boolean>> {
  if (sha256s.length === 0) return new Map();
  const rows = await db
    .selectFrom('files')
    .select(['sha256', 'blob_present'])
    .where('sha256', 'in', sha256s)
    .execute();
  return new Map(rows.map((r) => [r.sha256, r.blob_present]));
}

/**
 * - `no-row`: no committed row (an upload inserting one right now is invisible; it places its
 *   bytes only after committing, so the caller must still guard the unlink itself)
 * - `blob-absent`: the row says the blob is gone and this transaction now holds its lock
 * - `blob-present`: the file is wanted
 * - `busy`: another transaction holds the row; leave it alone
 */
export type OrphanCheck = 'no-row' | 'blob-absent' | 'blob-present' | 'busy';

/** Inside the caller's transaction: may a file found at this content address be removed? */
export async function lockForOrphanRemoval(trx: Db, sha256: string): Promise<OrphanCheck> {
  const row = await trx
    .selectFrom('files')
    .select('blob_present')
    .where('sha256', '=', sha256)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  if (row) return row.blob_present ? 'blob-present' : 'blob-absent';
  // SKIP LOCKED hides a locked row exactly like a missing one: tell them apart.
  const exists = await trx
    .selectFrom('files')
    .select('sha256')
    .where('sha256', '=', sha256)
    .executeTakeFirst();
  return exists ? 'busy' : 'no-row';
}

/** How many jobs `deleteExpiredJobs` would delete now: for dry runs. */
export async function countExpiredJobs(db: Db): Promise<number> {
  const row = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('expires_at', '<=', sql<Date>`now()`)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
