import type { LetterCounts } from '@scanner/core';
import { type Selectable, sql } from 'kysely';
import type { Db } from './db.js';
import type { JobStatus, JobsTable } from './schema.js';

/** A job as clients see it: its own row plus the results of its content once completed. */
export interface JobView {
  jobId: string;
  status: JobStatus;
  originalFilename: string;
  fileSize: number;
  sha256: string;
  deduplicated: boolean;
  results: LetterCounts | null;
  errorMessage: string | null;
  retryCount: number;
  requestId: string | null;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  expiresAt: Date;
}

function toView(row: Selectable<JobsTable>, results: LetterCounts | null): JobView {
  return {
    jobId: row.job_id,
    status: row.status,
    originalFilename: row.original_filename,
    fileSize: row.file_size,
    sha256: row.sha256,
    deduplicated: row.deduplicated,
    results: row.status === 'completed' ? results : null,
    errorMessage: row.error_message,
    retryCount: row.retry_count,
    requestId: row.request_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    completedAt: row.completed_at,
    expiresAt: row.expires_at,
  };
}

/** An unexpired job, or undefined. */
export async function findJob(db: Db, jobId: string): Promise<JobView | undefined> {
  const row = await db
    .selectFrom('jobs')
    .innerJoin('files', 'files.sha256', 'jobs.sha256')
    .selectAll('jobs')
    .select('files.results')
    .where('jobs.job_id', '=', jobId)
    .where('jobs.expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return row ? toView(row, row.results) : undefined;
}

export interface UploadInput {
  jobId: string;
  sha256: string;
  sizeBytes: number;
  originalFilename: string;
  requestId: string | null;
  expiresAt: Date;
}

function jobColumns(input: UploadInput) {
  return {
    job_id: input.jobId,
    sha256: input.sha256,
    original_filename: input.originalFilename,
    file_size: input.sizeBytes,
    request_id: input.requestId,
    expires_at: input.expiresAt,
  };
}

/**
 * The uploads of a batch as one relation, sent as one array per column: the statement text is the
 * same whatever the batch size, so it is parsed and planned once per connection.
 */
function uploadsRelation(inputs: readonly UploadInput[]) {
  return sql`unnest(
    ${inputs.map((i) => i.jobId)}::uuid[],
    ${inputs.map((i) => i.sha256)}::char(64)[],
    ${inputs.map((i) => i.originalFilename)}::varchar[],
    ${inputs.map((i) => i.sizeBytes)}::bigint[],
    ${inputs.map((i) => i.requestId)}::text[],
    ${inputs.map((i) => i.expiresAt)}::timestamptz[]
  ) AS input(job_id, sha256, original_filename, file_size, request_id, expires_at)`;
}

/**
 * What the answer to an upload needs of the job a batched insert recorded. The rest is in the row
 * (findJob): returning and parsing every column, four timestamps among them, for each of thousands
 * of uploads a second was a visible share of the gateway's CPU.
 */
export interface RecordedUpload {
  jobId: string;
  sha256: string;
  fileSize: number;
  results: LetterCounts | null;
}

interface RecordedRow {
  job_id: string;
  sha256: string;
  file_size: number;
  results_json: string | null;
}

function recordedByJobId(
  inputs: readonly UploadInput[],
  rows: RecordedRow[],
): Array<RecordedUpload | undefined> {
  // A batch often holds many uploads of one content: its results come back as text with each of
  // them and are parsed once (the object is shared, never changed).
  const parsed = new Map<string, LetterCounts>();
  const recorded = new Map<string, RecordedUpload>();
  for (const row of rows) {
    let results: LetterCounts | null = null;
    if (row.results_json !== null) {
      results = parsed.get(row.sha256) ?? (JSON.parse(row.results_json) as LetterCounts);
      parsed.set(row.sha256, results);
    }
    recorded.set(row.job_id, {
      jobId: row.job_id,
      sha256: row.sha256,
      fileSize: row.file_size,
      results,
    });
  }
  return inputs.map((input) => recorded.get(input.jobId));
}

/**
 * How stale `last_uploaded_at` may get before a duplicate upload refreshes it. Retention is counted
 * in hours and days, so a minute changes nothing there; refreshing on every duplicate made a
 * popular content's row the hottest in the database (a new row version and index entries per
 * batch, each batch queued behind the last on its lock).
 */
const LAST_UPLOADED_REFRESH = '1 minute';

/**
 * Records uploads of content already scanned as completed jobs, in one statement. Sizes are the
 * stored content's (the Repr-Digest path records the job before reading the body). An entry is
 * undefined where the content is not (yet) scanned. Results are read without a lock: a completed
 * scan never changes. Only rows due a `last_uploaded_at` refresh are locked, in sha256 order, so
 * concurrent batches sharing content queue behind each other instead of deadlocking, and a
 * janitor pass deciding about the blob meanwhile is waited for (then the row counts as recent).
 */
export async function recordCompletedUploads(
  db: Db,
  inputs: readonly UploadInput[],
): Promise<Array<RecordedUpload | undefined>> {
  if (inputs.length === 0) return [];
  const { rows } = await sql<RecordedRow>`
    WITH input AS (SELECT * FROM ${uploadsRelation(inputs)}),
    scanned AS (
      SELECT sha256, results, size_bytes FROM files
      WHERE sha256 IN (SELECT sha256 FROM input) AND scan_status = 'completed'
    ),
    due AS (
      SELECT sha256 FROM files
      WHERE sha256 IN (SELECT sha256 FROM scanned)
        AND last_uploaded_at < now() - ${sql.lit(LAST_UPLOADED_REFRESH)}::interval
      ORDER BY sha256
      FOR UPDATE
    ),
    refreshed AS (
      UPDATE files SET last_uploaded_at = now()
      FROM due WHERE files.sha256 = due.sha256
    )
    INSERT INTO jobs (job_id, sha256, original_filename, file_size, request_id, expires_at,
                      status, deduplicated, completed_at)
    SELECT input.job_id, scanned.sha256, input.original_filename, scanned.size_bytes,
           input.request_id, input.expires_at, 'completed', true, now()
    FROM input JOIN scanned ON scanned.sha256 = input.sha256
    RETURNING jobs.job_id, jobs.sha256, jobs.file_size,
      (SELECT scanned.results::text FROM scanned WHERE scanned.sha256 = jobs.sha256) AS results_json
  `.execute(db);
  return recordedByJobId(inputs, rows);
}

/**
 * Records brand-new content and its first job, for a batch of uploads in one statement (one round
 * trip, one commit). An entry is undefined where the content row already exists: that upload takes
 * the locked path instead. The sha256 values must be distinct within a batch (each new content has
 * exactly one first upload). Rows are inserted in sha256 order: two batches racing for the same
 * new contents then wait on each other in one order and cannot deadlock.
 */
export async function recordNewContents(
  db: Db,
  inputs: readonly UploadInput[],
): Promise<Array<RecordedUpload | undefined>> {
  if (inputs.length === 0) return [];
  if (new Set(inputs.map((i) => i.sha256)).size !== inputs.length)
    throw new TypeError('recordNewContents: a batch must not hold the same content twice');
  const { rows } = await sql<RecordedRow>`
    WITH input AS (SELECT * FROM ${uploadsRelation(inputs)}),
    f AS (
      INSERT INTO files (sha256, size_bytes, published_at)
      SELECT sha256, file_size, now() FROM input ORDER BY sha256
      ON CONFLICT (sha256) DO NOTHING
      RETURNING sha256
    )
    INSERT INTO jobs (job_id, sha256, original_filename, file_size, request_id, expires_at)
    SELECT input.job_id, input.sha256, input.original_filename, input.file_size,
           input.request_id, input.expires_at
    FROM input JOIN f ON f.sha256 = input.sha256
    RETURNING jobs.job_id, jobs.sha256, jobs.file_size, NULL::text AS results_json
  `.execute(db);
  return recordedByJobId(inputs, rows);
}

/** `recordNewContents` for one upload. */
export async function recordNewContent(
  db: Db,
  input: UploadInput,
): Promise<RecordedUpload | undefined> {
  return (await recordNewContents(db, [input]))[0];
}

export type KnownContentUpload =
  /** Scanned before: the job is recorded completed with the existing results. */
  | { outcome: 'completed'; job: JobView }
  /** Being scanned: the job joins that scan and completes with it. */
  | { outcome: 'joined'; job: JobView }
  /** The earlier scan failed: this upload's bytes were placed and a new scan must be published. */
  | { outcome: 'rescan'; job: JobView };

/**
 * Records an upload of content that already has a row, holding that row's lock for the whole
 * decision so a scan finishing or the janitor deleting the file cannot interleave with it.
 * `placeContent` runs under the lock when this upload's bytes must become the stored file.
 */
export async function recordKnownContentUpload(
  db: Db,
  input: UploadInput,
  placeContent: () => Promise<void>,
): Promise<KnownContentUpload> {
  return db.transaction().execute(async (trx) => {
    const file = await trx
      .selectFrom('files')
      .select(['scan_status', 'results'])
      .where('sha256', '=', input.sha256)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (file.scan_status === 'failed') {
      await placeContent();
      await trx
        .updateTable('files')
        .set({
          scan_status: 'pending',
          scan_attempts: 0,
          error_message: null,
          blob_present: true,
          blob_deleted_at: null,
          size_bytes: input.sizeBytes,
          published_at: sql`now()`,
          last_uploaded_at: sql`now()`,
          updated_at: sql`now()`,
        })
        .where('sha256', '=', input.sha256)
        .execute();
    } else {
      await trx
        .updateTable('files')
        .set({ last_uploaded_at: sql`now()` })
        .where('sha256', '=', input.sha256)
        .execute();
    }
    const completed = file.scan_status === 'completed';
    const row = await trx
      .insertInto('jobs')
      .values({
        ...jobColumns(input),
        status: completed ? 'completed' : 'pending',
        deduplicated: file.scan_status !== 'failed',
        completed_at: completed ? sql`now()` : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const job = toView(row, file.results);
    if (completed) return { outcome: 'completed', job };
    return file.scan_status === 'failed' ? { outcome: 'rescan', job } : { outcome: 'joined', job };
  });
}

/** Deletes up to `limit` expired jobs; returns their ids so caches can be dropped too. */
export async function deleteExpiredJobs(db: Db, limit: number): Promise<string[]> {
  const rows = await db
    .deleteFrom('jobs')
    .where(
      'job_id',
      'in',
      db
        .selectFrom('jobs')
        .select('job_id')
        .where('expires_at', '<=', sql<Date>`now()`)
        .limit(limit),
    )
    .returning('job_id')
    .execute();
  return rows.map((r) => r.job_id);
}
