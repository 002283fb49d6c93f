// Migrations import nothing from the app: they must keep working as the app's types move on.
import { type Kysely, sql } from 'kysely';

// A small stored file is read and verified in microseconds, less than the claim call that would
// precede it: the worker reads it first and then claims and finishes it in this one call. What a
// claim guarantees still holds, decided here under the row locks (taken in content-address order,
// as claim_scans and finish_scans do): only content waiting for a scan (pending, or processing with
// a stale heartbeat) is completed, its attempt counted, and only while attempts remain; a scan a
// live worker holds, content already finished, and content out of attempts are left alone and
// reported, and the worker takes its usual claim path for them (busy, done, abandoned).

// biome-ignore lint/suspicious/noExplicitAny: migrations run against whatever schema exists then.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION complete_scans(
      p_sha256 char(64)[], p_results jsonb[], p_stale_after interval, p_max_attempts integer
    )
    RETURNS TABLE (sha256 char(64), job_ids uuid[])
    LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan
    AS $$
    #variable_conflict use_column
    DECLARE
      eligible char(64)[];
    BEGIN
      SELECT coalesce(array_agg(l.sha256) FILTER (WHERE l.scan_attempts < p_max_attempts AND (
          l.scan_status = 'pending'
          OR (l.scan_status = 'processing' AND l.heartbeat_at < now() - p_stale_after))),
        ARRAY[]::char(64)[])
      INTO eligible
      FROM (
        SELECT f.sha256, f.scan_status, f.heartbeat_at, f.scan_attempts FROM files f
        WHERE f.sha256 = ANY(p_sha256) ORDER BY f.sha256 FOR UPDATE
      ) l;
      IF cardinality(eligible) = 0 THEN
        RETURN;
      END IF;
      UPDATE files f SET
        scan_status = 'completed',
        results = o.results,
        error_message = NULL,
        scan_attempts = f.scan_attempts + 1,
        scanned_at = now(),
        heartbeat_at = NULL,
        updated_at = now()
      FROM unnest(p_sha256, p_results) AS o(sha256, results)
      WHERE f.sha256 = o.sha256 AND f.sha256 = ANY(eligible);
      -- A fresh snapshot: jobs inserted by uploads that held one of the locks above are included.
      RETURN QUERY
      WITH done AS (
        UPDATE jobs j SET
          status = 'completed',
          error_message = NULL,
          completed_at = now(),
          updated_at = now()
        WHERE j.sha256 = ANY(eligible) AND j.status IN ('pending', 'processing')
        RETURNING j.sha256, j.job_id
      )
      SELECT s.sha256,
        coalesce(array_agg(done.job_id) FILTER (WHERE done.job_id IS NOT NULL), ARRAY[]::uuid[])
      FROM unnest(eligible) AS s(sha256) LEFT JOIN done ON done.sha256 = s.sha256
      GROUP BY s.sha256;
    END
    $$
  `.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION complete_scans(char(64)[], jsonb[], interval, integer)`.execute(db);
}
