// Migrations import nothing from the app: they must keep working as the app's types move on.
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against whatever schema exists then.
export async function up(db: Kysely<any>): Promise<void> {
  // One row per distinct content. Its primary key is what makes "new or already known" a decision
  // Postgres takes atomically, and the row lock is what serialises uploads, scans and the janitor.
  await db.schema
    .createTable('files')
    .addColumn('sha256', 'char(64)', (c) => c.primaryKey().check(sql`sha256 ~ '^[0-9a-f]{64}$'`))
    .addColumn('size_bytes', 'bigint', (c) => c.notNull().check(sql`size_bytes >= 0`))
    .addColumn('scan_status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('pending')
        .check(sql`scan_status IN ('pending', 'processing', 'completed', 'failed')`),
    )
    .addColumn('results', 'jsonb')
    .addColumn('error_message', 'text')
    .addColumn('scan_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('blob_present', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('blob_deleted_at', 'timestamptz')
    .addColumn('first_uploaded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_uploaded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    .addColumn('heartbeat_at', 'timestamptz')
    .addColumn('scanned_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      'files_results_when_completed',
      sql`(scan_status = 'completed') = (results IS NOT NULL)`,
    )
    .execute();
  await db.schema
    .createIndex('files_unfinished_idx')
    .on('files')
    .column('published_at')
    .where(sql.ref('scan_status'), 'in', ['pending', 'processing'])
    .execute();
  await db.schema
    .createIndex('files_blob_age_idx')
    .on('files')
    .column('last_uploaded_at')
    .where(sql.ref('blob_present'), '=', true)
    .execute();

  // One row per upload. Results live on the file; a job points at its content.
  await db.schema
    .createTable('jobs')
    .addColumn('job_id', 'uuid', (c) => c.primaryKey())
    .addColumn('sha256', 'char(64)', (c) => c.notNull().references('files.sha256'))
    .addColumn('original_filename', 'varchar(255)', (c) => c.notNull())
    .addColumn('file_size', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('pending')
        .check(sql`status IN ('pending', 'processing', 'completed', 'failed')`),
    )
    .addColumn('deduplicated', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('error_message', 'text')
    .addColumn('retry_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('request_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addCheckConstraint(
      'jobs_completed_at_when_finished',
      sql`(status IN ('completed', 'failed')) = (completed_at IS NOT NULL)`,
    )
    .execute();
  await db.schema
    .createIndex('jobs_unfinished_by_sha256_idx')
    .on('jobs')
    .column('sha256')
    .where(sql.ref('status'), 'in', ['pending', 'processing'])
    .execute();
  await db.schema.createIndex('jobs_sha256_idx').on('jobs').column('sha256').execute();
  await db.schema.createIndex('jobs_expires_at_idx').on('jobs').column('expires_at').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('jobs').execute();
  await db.schema.dropTable('files').execute();
}
