import type { LetterCounts } from '@scanner/core';
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { ScanStatus } from './schema.js';

export interface ScannedContent {
  sha256: string;
  sizeBytes: number;
  results: LetterCounts;
  scannedAt: Date;
}

/** Results for content that has been scanned, whether or not its file is still stored. */
export async function findScannedContent(
  db: Db,
  sha256: string,
): Promise<ScannedContent | undefined> {
  const row = await db
    .selectFrom('files')
    .select(['sha256', 'size_bytes', 'results', 'scanned_at'])
    .where('sha256', '=', sha256)
    .where('scan_status', '=', 'completed')
    .executeTakeFirst();
  if (!row?.results || !row.scanned_at) return undefined;
  return {
    sha256: row.sha256,
    sizeBytes: row.size_bytes,
    results: row.results,
    scannedAt: row.scanned_at,
  };
}

export type ScanStart =
  | { kind: 'started'; attempt: number; sizeBytes: number; blobPresent: boolean }
  | { kind: 'finished' }
  | { kind: 'busy' }
  | { kind: 'unknown' };

/**
 * Claims the scan of one content for this worker, in one statement. A scan already running
 * elsewhere with a fresh heartbeat is left alone ('busy'), so a duplicate or republished message
 * never causes a second concurrent scan; a stale heartbeat means its worker died and the scan is
 * taken over. Jobs waiting on the content show `processing` with the attempt count (a job an upload
 * adds at this very moment may show `pending` until the scan finishes it: cosmetic, never lost).
 */
export async function startScan(db: Db, sha256: string, staleAfterMs: number): Promise<ScanStart> {
  const { rows } = await sql<{
    attempt: number | null;
    size_bytes: number | null;
    blob_present: boolean | null;
    status: ScanStatus | null;
  }>`
    WITH claimed AS (
      UPDATE files SET
        scan_status = 'processing',
        scan_attempts = scan_attempts + 1,
        heartbeat_at = now(),
        updated_at = now()
      WHERE sha256 = ${sha256}
        AND (scan_status = 'pending'
          OR (scan_status = 'processing'
            AND heartbeat_at < now() - make_interval(secs => ${staleAfterMs / 1000})))
      RETURNING scan_attempts, size_bytes, blob_present
    ), jobs_started AS (
      UPDATE jobs SET status = 'processing', retry_count = claimed.scan_attempts, updated_at = now()
      FROM claimed
      WHERE jobs.sha256 = ${sha256} AND jobs.status IN ('pending', 'processing')
    )
    SELECT
      (SELECT scan_attempts FROM claimed) AS attempt,
      (SELECT size_bytes FROM claimed) AS size_bytes,
      (SELECT blob_present FROM claimed) AS blob_present,
      (SELECT scan_status FROM files WHERE sha256 = ${sha256}) AS status
  `.execute(db);
  const row = rows[0];
  if (row?.attempt != null && row.size_bytes != null) {
    return {
      kind: 'started',
      attempt: row.attempt,
      sizeBytes: Number(row.size_bytes),
      blobPresent: row.blob_present ?? true,
    };
  }
  if (!row?.status) return { kind: 'unknown' };
  return row.status === 'processing' ? { kind: 'busy' } : { kind: 'finished' };
}

/** Keeps a running scan's claim fresh; false when the scan is no longer ours to finish. */
export async function heartbeatScan(db: Db, sha256: string): Promise<boolean> {
  const r = await db
    .updateTable('files')
    .set({ heartbeat_at: sql`now()` })
    .where('sha256', '=', sha256)
    .where('scan_status', '=', 'processing')
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export interface FinishedJobs {
  jobIds: string[];
}

/**
 * Records the outcome of a scan and finishes every job waiting on that content, atomically, in one
 * round trip: `finish_scan` (see its migration) updates the content row first — waiting for any
 * upload holding that row's lock — and then the jobs with a fresh snapshot, so a job inserted by
 * that upload is finished too. Null when the content was not waiting for a scan any more.
 */
export async function finishScan(
  db: Db,
  sha256: string,
  outcome: { results: LetterCounts } | { error: string },
): Promise<FinishedJobs | null> {
  const results = 'results' in outcome ? JSON.stringify(outcome.results) : null;
  const error = 'error' in outcome ? outcome.error : null;
  const { rows } = await sql<{ finished: boolean; job_ids: string[] }>`
    SELECT finished, job_ids FROM finish_scan(${sha256}, ${results}::jsonb, ${error})
  `.execute(db);
  const row = rows[0];
  return row?.finished ? { jobIds: row.job_ids } : null;
}

/**
 * Content whose scan should have started or finished by now: pending or processing, last published
 * before the cutoff, and not being worked on (no fresh heartbeat).
 */
export async function findOverdueScans(
  db: Db,
  opts: { publishedBeforeMs: number; heartbeatStaleMs: number; limit: number },
): Promise<string[]> {
  const rows = await db
    .selectFrom('files')
    .select('sha256')
    .where('scan_status', 'in', ['pending', 'processing'])
    .where((eb) =>
      eb.or([
        eb('published_at', 'is', null),
        eb(
          'published_at',
          '<',
          sql<Date>`now() - make_interval(secs => ${opts.publishedBeforeMs / 1000})`,
        ),
      ]),
    )
    .where((eb) =>
      eb.or([
        eb('heartbeat_at', 'is', null),
        eb(
          'heartbeat_at',
          '<',
          sql<Date>`now() - make_interval(secs => ${opts.heartbeatStaleMs / 1000})`,
        ),
      ]),
    )
    .orderBy('published_at', (ob) => ob.asc().nullsFirst())
    .limit(opts.limit)
    .execute();
  return rows.map((r) => r.sha256);
}

export async function markPublished(db: Db, sha256s: string[]): Promise<void> {
  if (sha256s.length === 0) return;
  await db
    .updateTable('files')
    .set({ published_at: sql`now()` })
    .where('sha256', 'in', sha256s)
    .execute();
}

/** After a failed XADD: makes the content due for republishing at the next pass. */
export async function markUnpublished(db: Db, sha256: string): Promise<void> {
  await db.updateTable('files').set({ published_at: null }).where('sha256', '=', sha256).execute();
}
