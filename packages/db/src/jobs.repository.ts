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
 * Records an upload of content already scanned as a completed job, in one statement. The size is
 * the stored content's (the Repr-Digest path records the job before reading the body). Undefined
 * when the content is not (yet) scanned.
 */
export async function recordCompletedUpload(
  db: Db,
  input: UploadInput,
): Promise<JobView | undefined> {
  const row = await db
    .with('f', (qb) =>
      qb
        .updateTable('files')
        .set({ last_uploaded_at: sql`now()` })
        .where('sha256', '=', input.sha256)
        .where('scan_status', '=', 'completed')
        .returning(['sha256', 'results', 'size_bytes']),
    )
    .insertInto('jobs')
    .columns([
      'job_id',
      'sha256',
      'original_filename',
      'file_size',
      'request_id',
      'expires_at',
      'status',
      'deduplicated',
      'completed_at',
    ])
    .expression((eb) =>
      eb
        .selectFrom('f')
        .select([
          sql`${input.jobId}::uuid`.as('job_id'),
          'f.sha256',
          sql`${input.originalFilename}::varchar`.as('original_filename'),
          'f.size_bytes as file_size',
          sql`${input.requestId}::text`.as('request_id'),
          sql`${input.expiresAt}::timestamptz`.as('expires_at'),
          sql.lit('completed').as('status'),
          sql.lit(true).as('deduplicated'),
          sql`now()`.as('completed_at'),
        ]),
    )
    .returningAll()
    .returning(sql<LetterCounts>`(select results from f)`.as('results'))
    .executeTakeFirst();
  return row ? toView(row, row.results) : undefined;
}

/**
 * Records brand-new content and its first job in one statement (one round trip, one commit).
 * Undefined when the content row already exists: the caller takes the locked path instead.
 */
export async function recordNewContent(db: Db, input: UploadInput): Promise<JobView | undefined> {
  const row = await db
    .with('f', (qb) =>
      qb
        .insertInto('files')
        .values({ sha256: input.sha256, size_bytes: input.sizeBytes, published_at: sql`now()` })
        .onConflict((oc) => oc.column('sha256').doNothing())
        .returning('sha256'),
    )
    .insertInto('jobs')
    .columns(['job_id', 'sha256', 'original_filename', 'file_size', 'request_id', 'expires_at'])
    .expression((eb) =>
      eb
        .selectFrom('f')
        .select([
          sql`${input.jobId}::uuid`.as('job_id'),
          'f.sha256',
          sql`${input.originalFilename}::varchar`.as('original_filename'),
          sql`${input.sizeBytes}::bigint`.as('file_size'),
          sql`${input.requestId}::text`.as('request_id'),
          sql`${input.expiresAt}::timestamptz`.as('expires_at'),
        ]),
    )
    .returningAll()
    .executeTakeFirst();
  return row ? toView(row, null) : undefined;
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
