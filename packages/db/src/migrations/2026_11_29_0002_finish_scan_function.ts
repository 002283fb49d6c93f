// Migrations import nothing from the app: they must keep working as the app's types move on.
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against whatever schema exists then.
export async function up(db: Kysely<any>): Promise<void> {
  // Finishing a scan must update the content row first (waiting for any upload holding its lock)
  // and only then the jobs, with a snapshot taken after that wait, so a job the upload inserted is
  // finished too. A data-modifying CTE cannot do that (one snapshot per statement); a function whose
  // statements each take a fresh snapshot (READ COMMITTED) can, in one round trip and one commit.
  await sql`
    CREATE FUNCTION finish_scan(p_sha256 char(64), p_results jsonb, p_error text)
    RETURNS TABLE (finished boolean, job_ids uuid[])
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      finished_ids uuid[];
    BEGIN
      UPDATE files SET
        scan_status = CASE WHEN p_results IS NULL THEN 'failed' ELSE 'completed' END,
        results = p_results,
        error_message = CASE WHEN p_results IS NULL THEN p_error END,
        scanned_at = CASE WHEN p_results IS NULL THEN NULL ELSE now() END,
        heartbeat_at = NULL,
        updated_at = now()
      WHERE sha256 = p_sha256 AND scan_status IN ('pending', 'processing');
      IF NOT FOUND THEN
        RETURN QUERY SELECT false, ARRAY[]::uuid[];
        RETURN;
      END IF;
      WITH done AS (
        UPDATE jobs SET
          status = CASE WHEN p_results IS NULL THEN 'failed' ELSE 'completed' END,
          error_message = CASE WHEN p_results IS NULL THEN p_error END,
          completed_at = now(),
          updated_at = now()
        WHERE sha256 = p_sha256 AND status IN ('pending', 'processing')
        RETURNING jobs.job_id
      )
      SELECT coalesce(array_agg(done.job_id), ARRAY[]::uuid[]) INTO finished_ids FROM done;
      RETURN QUERY SELECT true, finished_ids;
    END
    $$
  `.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION finish_scan(char(64), jsonb, text)`.execute(db);
}
