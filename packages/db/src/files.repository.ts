import type { LetterCounts } from '@scanner/core';
import { CompiledQuery, sql } from 'kysely';
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
  | { kind: 'started'; attempt: number; sizeBytes: number }
  | { kind: 'finished' }
  | { kind: 'busy' }
  | { kind: 'unknown' };

// The worker's hot statements as fixed texts: nothing to build or compile per call, and one
// prepared statement each whatever the batch size (the arrays are single parameters).
const CLAIM_SCANS =
  'SELECT sha256, claimed, scan_status, attempt, size_bytes ' +
  'FROM claim_scans($1::char(64)[], make_interval(secs => $2))';
const COMPLETE_SCANS =
  'SELECT sha256, job_ids FROM complete_scans($1::char(64)[], $2::jsonb[], ' +
  'make_interval(secs => $3), $4::integer)';
const FINISH_SCANS =
  'SELECT sha256, job_ids FROM finish_scans($1::char(64)[], $2::jsonb[], $3::text[])';
// Locked by key, status checked on the locked rows: see migration 0003 on why no status condition
// goes next to the key lookup.
const HEARTBEAT_SCANS = `
  WITH locked AS MATERIALIZED (
    SELECT sha256, scan_status FROM files
    WHERE sha256 = ANY($1::char(64)[])
    ORDER BY sha256
    FOR UPDATE SKIP LOCKED
  )
  UPDATE files SET heartbeat_at = now()
  WHERE sha256 = ANY(ARRAY(SELECT sha256 FROM locked WHERE scan_status = 'processing'))
  RETURNING sha256`;

/**
 * Claims the scans of many contents for this worker, in one call (`claim_scans`, see its
 * migration). A scan already running elsewhere with a fresh heartbeat is left alone ('busy'), so a
 * duplicate or republished message never causes a second concurrent scan; a stale heartbeat means
 * its worker died and the scan is taken over. Jobs waiting on a claimed content show `processing`
 * with the attempt count (a job an upload adds at this very moment may show `pending` until the
 * scan finishes it: cosmetic, never lost). A content given twice is claimed once: the first
 * occurrence gets the claim, the others 'busy'. One answer per given content, in order.
 */
export async function startScans(
  db: Db,
  sha256s: readonly string[],
  staleAfterMs: number,
): Promise<ScanStart[]> {
  if (sha256s.length === 0) return [];
  const unique = [...new Set(sha256s)];
  const { rows } = await db.executeQuery<{
    sha256: string;
    claimed: boolean;
    scan_status: ScanStatus;
    attempt: number | null;
    size_bytes: number;
  }>(CompiledQuery.raw(CLAIM_SCANS, [unique, staleAfterMs / 1000]));
  const bySha = new Map(rows.map((r) => [r.sha256, r]));
  const answered = new Set<string>();
  return sha256s.map((sha256): ScanStart => {
    const row = bySha.get(sha256);
    if (!row) return { kind: 'unknown' };
    if (row.claimed && row.attempt !== null) {
      if (answered.has(sha256)) return { kind: 'busy' };
      answered.add(sha256);
      return { kind: 'started', attempt: row.attempt, sizeBytes: Number(row.size_bytes) };
    }
    return row.scan_status === 'processing' || row.scan_status === 'pending'
      ? { kind: 'busy' }
      : { kind: 'finished' };
  });
}

/** `startScans` for one content. */
export async function startScan(db: Db, sha256: string, staleAfterMs: number): Promise<ScanStart> {
  const [start] = await startScans(db, [sha256], staleAfterMs);
  return start ?? { kind: 'unknown' };
}

/**
 * Keeps running scans' claims fresh, in one statement; returns the contents refreshed. A row another
 * transaction holds is skipped rather than waited on (it is being finished, or an upload is joining
 * it for a moment): a heartbeat comes several times per staleness period, so the next one does it.
 */
export async function heartbeatScans(db: Db, sha256s: readonly string[]): Promise<string[]> {
  if (sha256s.length === 0) return [];
  const { rows } = await db.executeQuery<{ sha256: string }>(
    CompiledQuery.raw(HEARTBEAT_SCANS, [[...sha256s]]),
  );
  return rows.map((r) => r.sha256);
}

export interface FinishedJobs {
  jobIds: string[];
}

export type ScanOutcome = { results: LetterCounts } | { error: string };

/** `finishScans` for one content. */
export async function finishScan(
  db: Db,
  sha256: string,
  outcome: ScanOutcome,
): Promise<FinishedJobs | null> {
  const [finished] = await finishScans(db, [{ sha256, outcome }]);
  return finished ?? null;
}

/** The items of a batch whose content comes up for the first time in it, in order. */
function firstOfEachContent<T extends { sha256: string }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter(({ sha256 }) => !seen.has(sha256) && seen.add(sha256));
}

/** One answer per item: the jobs its content's row finished (to its first occurrence), or null. */
function jobsPerItem(
  items: ReadonlyArray<{ sha256: string }>,
  rows: Array<{ sha256: string; job_ids: string[] }>,
): Array<FinishedJobs | null> {
  const bySha = new Map(rows.map((r) => [r.sha256, r.job_ids]));
  return items.map(({ sha256 }) => {
    const jobIds = bySha.get(sha256);
    if (!jobIds) return null;
    bySha.delete(sha256);
    return { jobIds };
  });
}

/**
 * `finishScan` for many contents in one call and one transaction (`finish_scans`, see its
 * migration), with the same guarantees for each. One answer per given outcome, in order: the jobs
 * finished, or null when that content was not waiting for a scan any more (and for every
 * occurrence after the first of a content given twice).
 */
export async function finishScans(
  db: Db,
  outcomes: ReadonlyArray<{ sha256: string; outcome: ScanOutcome }>,
): Promise<Array<FinishedJobs | null>> {
  if (outcomes.length === 0) return [];
  const first = firstOfEachContent(outcomes);
  const { rows } = await db.executeQuery<{ sha256: string; job_ids: string[] }>(
    CompiledQuery.raw(FINISH_SCANS, [
      first.map((o) => o.sha256),
      first.map(({ outcome }) => ('results' in outcome ? JSON.stringify(outcome.results) : null)),
      first.map(({ outcome }) => ('error' in outcome ? outcome.error : null)),
    ]),
  );
  return jobsPerItem(outcomes, rows);
}

/**
 * Claims and completes scans whose results are already known, in one call and one transaction
 * (`complete_scans`, see its migration): for content read and verified before any claim. Each
 * content waiting for a scan (pending, or processing with a heartbeat older than `staleAfterMs`)
 * with attempts left (fewer than `maxAttempts` so far) is completed, its attempt counted, and every
 * job waiting on it finished. One answer per given content, in order: the jobs finished, or null
 * when it was not eligible (scanned by a live worker, already finished, out of attempts, unknown),
 * and for every occurrence after the first of a content given twice.
 */
export async function completeScans(
  db: Db,
  scans: ReadonlyArray<{ sha256: string; results: LetterCounts }>,
  opts: { staleAfterMs: number; maxAttempts: number },
): Promise<Array<FinishedJobs | null>> {
  if (scans.length === 0) return [];
  const first = firstOfEachContent(scans);
  const { rows } = await db.executeQuery<{ sha256: string; job_ids: string[] }>(
    CompiledQuery.raw(COMPLETE_SCANS, [
      first.map((s) => s.sha256),
      first.map((s) => JSON.stringify(s.results)),
      opts.staleAfterMs / 1000,
      opts.maxAttempts,
    ]),
  );
  return jobsPerItem(scans, rows);
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

/**
 * Records that these contents were (re)published. Their rows are locked in content-address order,
 * the order `claim_scans` and `finish_scans` lock in, so a republish pass and a worker's batch that
 * share rows wait for each other rather than deadlock.
 */
export async function markPublished(db: Db, sha256s: string[]): Promise<void> {
  if (sha256s.length === 0) return;
  await sql`
    WITH locked AS MATERIALIZED (
      SELECT sha256 FROM files WHERE sha256 = ANY(${sha256s}::char(64)[])
      ORDER BY sha256
      FOR UPDATE
    )
    UPDATE files SET published_at = now() FROM locked WHERE files.sha256 = locked.sha256
  `.execute(db);
}

/** After a failed XADD: makes the content due for republishing at the next pass. */
export async function markUnpublished(db: Db, sha256: string): Promise<void> {
  await db.updateTable('files').set({ published_at: null }).where('sha256', '=', sha256).execute();
}
