import { type Db, findJob } from '@scanner/db';
import type { Logger } from '@scanner/logging';
import {
  cacheFinishedJob,
  getCachedJob,
  type RedisKeys,
  type RedisStallGuard,
} from '@scanner/redis';
import { jobResource } from './job-resource.js';

const REDIS_TIMEOUT_MS = 250;

export interface JobReaderDeps {
  db: Db;
  /** The job cache's calls, with deadlines: a slow Redis is a miss, never a slow answer. */
  redisCalls: RedisStallGuard;
  keys: RedisKeys;
  log: Logger;
  jobCacheTtlSeconds: number;
}

/** The serialized response body for a job, or null when it is unknown or expired. */
export async function readJob(deps: JobReaderDeps, jobId: string): Promise<string | null> {
  const cached = await fromCache(deps, jobId);
  if (cached) return cached;

  const job = await findJob(deps.db, jobId);
  if (!job) return null;
  const body = JSON.stringify(jobResource(job));
  // Only terminal states are cached: they can never change again, so a refill racing the worker
  // cannot pin an old state. Pending and processing jobs are always read from Postgres.
  if (job.status === 'completed' || job.status === 'failed') {
    const untilExpiry = Math.floor((job.expiresAt.getTime() - Date.now()) / 1000);
    const ttl = Math.min(deps.jobCacheTtlSeconds, untilExpiry);
    if (deps.redisCalls.usable) {
      deps.redisCalls
        .call(
          (client) => cacheFinishedJob(client, deps.keys, jobId, body, ttl),
          REDIS_TIMEOUT_MS,
          'set job',
        )
        .catch((err) => deps.log.debug({ err }, 'job cache write failed'));
    }
  }
  return body;
}

async function fromCache(deps: JobReaderDeps, jobId: string): Promise<string | null> {
  if (!deps.redisCalls.usable) return null;
  try {
    const body = await deps.redisCalls.call(
      (client) => getCachedJob(client, deps.keys, jobId),
      REDIS_TIMEOUT_MS,
      'get job',
    );
    if (!body) return null;
    // The cache TTL never outlives expires_at, but clocks differ: check anyway.
    const { expires_at } = JSON.parse(body) as { expires_at?: string };
    return expires_at && Date.parse(expires_at) > Date.now() ? body : null;
  } catch (err) {
    deps.log.debug({ err }, 'job cache read failed; falling back to Postgres');
    return null;
  }
}
