import type { LetterCounts } from '@scanner/core';
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { FileRow } from './schema.js';

export async function findFile(db: Db, sha256: string): Promise<FileRow | undefined> {
  return db.selectFrom('files').selectAll().where('sha256', '=', sha256).executeTakeFirst();
}

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
 * Claims the scan of one content for this worker. A scan already running elsewhere with a fresh
 * heartbeat is left alone ('busy'), so a duplicate or republished message never causes a second
 * concurrent scan; a stale heartbeat means its worker died and the scan is taken over.
 */
export async function startScan(db: Db, sha256: string, staleAfterMs: number): Promise<ScanStart> {
  return db.transaction().execute(async (trx) => {
    const claimed = await trx
      .updateTable('files')
      .set((eb) => ({
        scan_status: 'processing',
        scan_attempts: eb('scan_attempts', '+', 1),
        heartbeat_at: sql`now()`,
        updated_at: sql`now()`,
      }))
      .where('sha256', '=', sha256)
      .where((eb) =>
        eb.or([
          eb('scan_status', '=', 'pending'),
          eb.and([
            eb('scan_status', '=', 'processing'),
            eb(
              'heartbeat_at',
              '<',
              sql<Date>`now() - make_interval(secs => ${staleAfterMs / 1000})`,
            ),
          ]),
        ]),
      )
      .returning(['scan_attempts', 'size_bytes', 'blob_present'])
      .executeTakeFirst();
    if (!claimed) {
      const row = await trx
        .selectFrom('files')
        .select('scan_status')
        .where('sha256', '=', sha256)
        .executeTakeFirst();
      if (!row) return { kind: 'unknown' } as const;
      return row.scan_status === 'processing'
        ? ({ kind: 'busy' } as const)
        : ({ kind: 'finished' } as const);
    }
    await trx
      .updateTable('jobs')
      .set({ status: 'processing', retry_count: claimed.scan_attempts, updated_at: sql`now()` })
      .where('sha256', '=', sha256)
      .where('status', 'in', ['pending', 'processing'])
      .execute();
    return {
      kind: 'started',
      attempt: claimed.scan_attempts,
      sizeBytes: claimed.size_bytes,
      blobPresent: claimed.blob_present,
    } as const;
  });
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
 * Records the outcome of a scan and finishes every job waiting on that content, atomically.
 * The files row is updated first: it waits for any upload holding that row's lock, and the jobs
 * update that follows runs with a fresh snapshot, so a job inserted by that upload is included.
 */
export async function finishScan(
  db: Db,
  sha256: string,
  outcome: { results: LetterCounts } | { error: string },
): Promise<FinishedJobs | null> {
  return db.transaction().execute(async (trx) => {
    const done = 'results' in outcome;
    const file = await trx
      .updateTable('files')
      .set({
        scan_status: done ? 'completed' : 'failed',
        results: done ? JSON.stringify(outcome.results) : null,
        error_message: done ? null : outcome.error,
        scanned_at: done ? sql`now()` : null,
        heartbeat_at: null,
        updated_at: sql`now()`,
      })
      .where('sha256', '=', sha256)
      .where('scan_status', 'in', ['pending', 'processing'])
      .returning('sha256')
      .executeTakeFirst();
    if (!file) return null;
    const jobs = await trx
      .updateTable('jobs')
      .set({
        status: done ? 'completed' : 'failed',
        error_message: done ? null : outcome.error,
        completed_at: sql`now()`,
        updated_at: sql`now()`,
      })
      .where('sha256', '=', sha256)
      .where('status', 'in', ['pending', 'processing'])
      .returning('job_id')
      .execute();
    return { jobIds: jobs.map((j) => j.job_id) };
  });
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
