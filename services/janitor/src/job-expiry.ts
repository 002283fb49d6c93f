import { countExpiredJobs, deleteExpiredJobs } from '@scanner/db';
import { dropCachedJobs, type Redis, type RedisKeys, withTimeout } from '@scanner/redis';
import type { PhaseContext } from './phase-context.js';

const REDIS_TIMEOUT_MS = 1_000;

export interface JobExpiry {
  expired: number;
  /** Expired jobs whose cached status could not be dropped (Redis down); readers re-check expiry. */
  cacheDropFailures: number;
}

/**
 * Deletes jobs past `expires_at` in batches, then their cached status. A cached status never
 * outlives `expires_at` (its TTL is capped and readers check it), so a Redis outage here only
 * leaves garbage that expires by itself.
 */
export async function expireJobs(
  ctx: PhaseContext & { redis: Redis; keys: RedisKeys },
): Promise<JobExpiry> {
  if (ctx.dryRun) return { expired: await countExpiredJobs(ctx.db), cacheDropFailures: 0 };
  const result: JobExpiry = { expired: 0, cacheDropFailures: 0 };
  for (;;) {
    if (ctx.signal.aborted) break;
    const ids = await deleteExpiredJobs(ctx.db, ctx.batchSize);
    result.expired += ids.length;
    if (ids.length > 0) {
      try {
        if (!ctx.redis.isReady) throw new Error('redis is not connected');
        await withTimeout(
          dropCachedJobs(ctx.redis, ctx.keys, ids),
          REDIS_TIMEOUT_MS,
          'drop cached jobs',
        );
      } catch (err) {
        result.cacheDropFailures += ids.length;
        ctx.log.warn({ err, count: ids.length }, 'could not drop cached status of expired jobs');
      }
    }
    if (ids.length < ctx.batchSize) break;
  }
  return result;
}
