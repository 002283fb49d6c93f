// What the HTTP scenarios check after the timed work, straight from Postgres and the volume (the
// source of truth), plus a sample read back through the edge like a client would.
import { readdirSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { contentPath, type LetterCounts } from '@scanner/core';
import { Agent, request } from 'undici';
import type { BenchEnvironment } from './stack.js';

/** Jobs, files, unfinished jobs and stream entries in the environment right now. */
export async function systemCounts(env: BenchEnvironment) {
  const { rows } = await env.db.query<{ jobs: string; files: string; unfinished: string }>(
    `SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM files) AS files,
            (SELECT count(*) FROM jobs WHERE status IN ('pending', 'processing')) AS unfinished`,
  );
  const row = rows[0];
  const redis = await env.redis();
  return {
    jobs: Number(row?.jobs),
    files: Number(row?.files),
    unfinished: Number(row?.unfinished),
    streamEntries: await redis.xLen(`${env.prefix}scan_jobs`),
  };
}

/**
 * Waits until no job is pending or processing (the bench makes sure every unfinished job is one
 * it is waiting for). Polls every `intervalMs`; false on timeout.
 */
export async function waitUntilNoneUnfinished(
  env: BenchEnvironment,
  timeoutMs: number,
  intervalMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  // Polled through the partial index of unfinished content: counting unfinished jobs scans the
  // whole jobs table (no index reads status), tens of thousands of rows by the later turns, and
  // that Postgres CPU would be taken from the workers being measured. A job is unfinished only
  // while its content is, so the jobs are counted once, at the end.
  for (;;) {
    const { rows } = await env.db.query<{ unfinished: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM files WHERE scan_status IN ('pending', 'processing'))
         AS unfinished`,
    );
    if (rows[0]?.unfinished === false) {
      const { rows: jobs } = await env.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM jobs WHERE status IN ('pending', 'processing')`,
      );
      if (Number(jobs[0]?.n) === 0) return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface CompletedJob {
  jobId: string;
  completedAt: number;
}

/**
 * Checks that every one of `jobIds` completed with exactly `expected`, each content scanned once.
 * Returns the problems found (empty when all is right) and each job's completion time.
 */
export async function checkCompleted(
  env: BenchEnvironment,
  jobIds: string[],
  expected: LetterCounts,
): Promise<{ problems: string[]; completed: CompletedJob[] }> {
  const { rows } = await env.db.query<{
    job_id: string;
    status: string;
    completed_ms: string | null;
    results: LetterCounts | null;
    scan_attempts: number;
    error_message: string | null;
  }>(
    `SELECT j.job_id, j.status, extract(epoch FROM j.completed_at) * 1000 AS completed_ms,
            f.results, f.scan_attempts, j.error_message
       FROM jobs j JOIN files f ON f.sha256 = j.sha256
      WHERE j.job_id = ANY($1::uuid[])`,
    [jobIds],
  );
  const problems: string[] = [];
  if (rows.length !== jobIds.length)
    problems.push(`${jobIds.length - rows.length} of ${jobIds.length} jobs are not recorded`);
  const notCompleted = rows.filter((r) => r.status !== 'completed');
  if (notCompleted.length > 0)
    problems.push(
      `${notCompleted.length} jobs not completed, e.g. ${notCompleted[0]?.status}: ${notCompleted[0]?.error_message}`,
    );
  const wrong = rows.filter(
    (r) => r.status === 'completed' && !isDeepStrictEqual(r.results, expected),
  );
  if (wrong.length > 0) problems.push(`${wrong.length} jobs completed with wrong counts`);
  const rescanned = rows.filter((r) => r.scan_attempts !== 1 && r.status === 'completed');
  if (rescanned.length > 0)
    problems.push(`${rescanned.length} contents were scanned more than once`);
  const completed = rows
    .filter((r) => r.completed_ms !== null)
    .map((r) => ({ jobId: r.job_id, completedAt: Number(r.completed_ms) }));
  return { problems, completed };
}

/** Reads jobs back through the edge like a client: 200, completed, exactly `expected`. */
export async function checkThroughEdge(
  baseUrl: string,
  jobIds: string[],
  expected: LetterCounts,
): Promise<string[]> {
  const agent = new Agent({ connections: 8 });
  const problems: string[] = [];
  try {
    await Promise.all(
      jobIds.map(async (jobId) => {
        const res = await request(`${baseUrl}/api/v1/files/${jobId}`, { dispatcher: agent });
        const body = (await res.body.json()) as Record<string, unknown>;
        if (res.statusCode !== 200 || body.status !== 'completed')
          problems.push(`GET ${jobId}: ${res.statusCode} ${JSON.stringify(body).slice(0, 200)}`);
        else if (!isDeepStrictEqual(body.results, expected))
          problems.push(`GET ${jobId}: wrong results`);
      }),
    );
  } finally {
    await agent.close();
  }
  return problems.slice(0, 3);
}

/** Whether the volume holds this content at its address with this size. */
export async function storedAt(root: string, sha256: string, bytes: number): Promise<boolean> {
  try {
    return (await stat(contentPath(root, sha256))).size === bytes;
  } catch {
    return false;
  }
}

/** Temp files left in the volume's temp folder (there must be none once uploads are answered). */
export function leftoverTempFiles(root: string): number {
  try {
    return readdirSync(`${root}/.tmp`).length;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds used so far by the Postgres backends serving `database` (found by their process
 * titles): an approximation of what the database does for the scenario (backends that have
 * already exited are missed; the pools keep theirs open during a run).
 */
export function postgresCpuSeconds(database: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (!title.startsWith('postgres: ') || !title.includes(` ${database} `)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}
