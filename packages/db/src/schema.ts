import type { LetterCounts } from '@scanner/core';
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

export type ScanStatus = 'pending' | 'processing' | 'completed' | 'failed';
export type JobStatus = ScanStatus;

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>;
// pg returns bigint as a string unless told otherwise; db.ts installs a parser that yields numbers
// (file sizes stay far below 2^53).
type BigIntColumn = ColumnType<number, number, number>;

export interface FilesTable {
  sha256: string;
  size_bytes: BigIntColumn;
  scan_status: ColumnType<ScanStatus, ScanStatus | undefined, ScanStatus>;
  results: ColumnType<LetterCounts | null, string | null | undefined, string | null>;
  error_message: string | null;
  scan_attempts: Generated<number>;
  blob_present: Generated<boolean>;
  blob_deleted_at: NullableTimestamp;
  first_uploaded_at: Generated<Date>;
  last_uploaded_at: Generated<Date>;
  published_at: NullableTimestamp;
  heartbeat_at: NullableTimestamp;
  scanned_at: NullableTimestamp;
  updated_at: Generated<Date>;
}

export interface JobsTable {
  job_id: string;
  sha256: string;
  original_filename: string;
  file_size: BigIntColumn;
  status: ColumnType<JobStatus, JobStatus | undefined, JobStatus>;
  deduplicated: Generated<boolean>;
  error_message: string | null;
  retry_count: Generated<number>;
  request_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  completed_at: NullableTimestamp;
  expires_at: Timestamp;
}

export interface Database {
  files: FilesTable;
  jobs: JobsTable;
}

export type FileRow = Selectable<FilesTable>;
export type NewFile = Insertable<FilesTable>;
export type JobRow = Selectable<JobsTable>;
export type NewJob = Insertable<JobsTable>;
