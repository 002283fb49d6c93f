import { isLetterCounts, type LetterCounts } from '@scanner/core';
import type { Redis } from './client.js';
import type { RedisKeys } from './keys.js';

// Both caches only ever hold values that can no longer change: results of a content (immutable by
// definition) and jobs in a terminal state. A reader refilling the cache can therefore never pin a
// stale state, whatever it races with; pending and processing jobs are always read from Postgres.

function parseResults(raw: string | null): LetterCounts | null {
  if (raw === null) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return isLetterCounts(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/**
 * Cached results of many contents in one MGET: one answer per content, in order; null for a miss
 * or an entry that is not valid results. A content asked for more than once (the uploads handled
 * at once are often of one popular file) is read and parsed once, and its answers share the
 * object: results never change, and nobody may modify them.
 */
export async function getCachedResults(
  redis: Redis,
  keys: RedisKeys,
  sha256s: readonly string[],
): Promise<Array<LetterCounts | null>> {
  if (sha256s.length === 0) return [];
  const distinct = [...new Set(sha256s)];
  const raws = await redis.mGet(distinct.map((sha256) => keys.fileResults(sha256)));
  const parsed = new Map(distinct.map((sha256, i) => [sha256, parseResults(raws[i] ?? null)]));
  return sha256s.map((sha256) => parsed.get(sha256) ?? null);
}

export async function cacheResults(
  redis: Redis,
  keys: RedisKeys,
  sha256: string,
  results: LetterCounts,
  ttlSeconds: number,
): Promise<void> {
  await redis.set(keys.fileResults(sha256), JSON.stringify(results), { EX: ttlSeconds });
}

/** A terminal job's response body, stored as the JSON the API would send. */
export async function getCachedJob(
  redis: Redis,
  keys: RedisKeys,
  jobId: string,
): Promise<string | null> {
  return redis.get(keys.jobStatus(jobId));
}

export async function cacheFinishedJob(
  redis: Redis,
  keys: RedisKeys,
  jobId: string,
  body: string,
  ttlSeconds: number,
): Promise<void> {
  if (ttlSeconds < 1) return;
  await redis.set(keys.jobStatus(jobId), body, { EX: Math.floor(ttlSeconds) });
}

export async function dropCachedJobs(
  redis: Redis,
  keys: RedisKeys,
  jobIds: string[],
): Promise<void> {
  if (jobIds.length === 0) return;
  await redis.del(jobIds.map((id) => keys.jobStatus(id)));
}
