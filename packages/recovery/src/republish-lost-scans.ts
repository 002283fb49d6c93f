import { type Db, findOverdueScans, markPublished } from '@scanner/db';
import type { Logger } from '@scanner/logging';
import { ensureScanGroup, publishScan, type Redis, type RedisKeys } from '@scanner/redis';
import { sql } from 'kysely';

export interface RepublishOptions {
  db: Db;
  redis: Redis;
  keys: RedisKeys;
  log: Logger;
  /** Called with the number of scans published again. */
  onRepublished?: (count: number) => void;
  republishAfterMs: number;
  staleAfterMs: number;
  batchSize?: number;
}

// Any constant shared by all workers; one pass at a time across the whole deployment.
const REPUBLISH_LOCK_KEY = 0x5ca7_0001;

/**
 * Runs in every worker and in the janitor; the advisory lock makes it one pass at a time.
 * Postgres is the source of truth for unfinished scans; the stream is only a delivery mechanism
 * and can lose entries (Redis restarted without persistence, FLUSHALL, an XADD that failed while
 * Redis was down). A pass finds content that should have been scanned by now and is neither in
 * the stream nor being scanned, and publishes it again. Scanning is idempotent, so an occasional
 * duplicate costs a no-op, never a second scan.
 */
export async function republishLostScans(o: RepublishOptions): Promise<number> {
  if (!o.redis.isReady) return 0;
  return o.db.transaction().execute(async (trx) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_xact_lock(${REPUBLISH_LOCK_KEY}) as locked`.execute(trx);
    if (!rows[0]?.locked) return 0;
    const overdue = await findOverdueScans(trx, {
      publishedBeforeMs: o.republishAfterMs,
      heartbeatStaleMs: o.staleAfterMs,
      limit: o.batchSize ?? 500,
    });
    if (overdue.length === 0) return 0;
    await ensureScanGroup(o.redis, o.keys);
    const queued = await shaInStream(o.redis, o.keys);
    const lost = overdue.filter((sha) => !queued.has(sha));
    for (const sha256 of lost) {
      await publishScan(o.redis, o.keys, { sha256, jobId: '', requestId: 'republish' });
    }
    await markPublished(trx, overdue);
    if (lost.length > 0) {
      o.onRepublished?.(lost.length);
      o.log.warn({ count: lost.length }, 'republished scans the queue had lost');
    }
    return lost.length;
  });
}

/** Content addresses with an entry still in the stream (queued or delivered but unacknowledged). */
async function shaInStream(redis: Redis, keys: RedisKeys): Promise<Set<string>> {
  const seen = new Set<string>();
  let start = '-';
  for (;;) {
    const page = await redis.xRange(keys.scanStream, start, '+', { COUNT: 1_000 });
    for (const entry of page) {
      const sha = entry.message.sha256;
      if (sha) seen.add(sha);
    }
    if (page.length < 1_000) return seen;
    start = `(${(page.at(-1) as { id: string }).id}`;
  }
}
