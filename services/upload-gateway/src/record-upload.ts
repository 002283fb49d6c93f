import type { LetterCounts } from '@scanner/core';
import {
  type Db,
  finishScan,
  markUnpublished,
  type RecordedUpload,
  recordKnownContentUpload,
  type UploadInput,
} from '@scanner/db';
import type { Logger } from '@scanner/logging';
import { cacheResults, publishScan, type RedisKeys, type RedisStallGuard } from '@scanner/redis';
import { type ReceivedContent, storeContent } from '@scanner/storage';
import type { DedupLevel, GatewayMetrics } from './gateway-metrics.js';
import type { CacheReads, UploadWrites } from './upload-batching.js';

const REDIS_TIMEOUT_MS = 500;

export interface RecordDeps {
  db: Db;
  writes: UploadWrites;
  cacheReads: CacheReads;
  /** The optional Redis calls (publishing, cache refills), with deadlines. */
  redisCalls: RedisStallGuard;
  keys: RedisKeys;
  log: Logger;
  metrics: GatewayMetrics;
  storageRoot: string;
  fileCacheTtlSeconds: number;
}

export type Recorded =
  | { kind: 'completed'; job: RecordedUpload; results: LetterCounts; level: DedupLevel }
  | { kind: 'pending'; job: RecordedUpload; deduplicated: boolean; rescan?: boolean };

function refillResultsCache(deps: RecordDeps, sha256: string, results: LetterCounts): void {
  if (!deps.redisCalls.usable) return;
  deps.redisCalls
    .call(
      (client) => cacheResults(client, deps.keys, sha256, results, deps.fileCacheTtlSeconds),
      REDIS_TIMEOUT_MS,
      'set results',
    )
    .catch((err) => deps.log.debug({ err }, 'results cache write failed'));
}

/**
 * Records an upload of content believed to be scanned (its results were cached, or the client
 * sent its digest) as a completed job, taking the results from Postgres in the same statement.
 * Undefined when Postgres does not hold the content as scanned.
 */
export async function recordKnownCompleted(
  deps: RecordDeps,
  input: UploadInput,
  level: DedupLevel,
): Promise<Recorded | undefined> {
  const job = await deps.writes.completedUpload(input);
  return job?.results ? { kind: 'completed', job, results: job.results, level } : undefined;
}

/**
 * Decides what an upload is, with Postgres as the judge: results cached in Redis first; then an
 * insert that succeeds only for content never seen; then, for known content, the batched insert of
 * a completed job, which succeeds only for scanned content; otherwise (content being scanned, or
 * whose scan failed) the locked path. `content` is stored at its content address only when this
 * upload's bytes are needed.
 */
export async function recordUpload(
  deps: RecordDeps,
  input: UploadInput,
  content: ReceivedContent,
): Promise<Recorded> {
  const cached = await deps.cacheReads.results(input.sha256);
  if (cached) {
    const done = await recordKnownCompleted(deps, input, 'redis');
    if (done) return done;
  }

  const created = await deps.writes.newContent(input);
  if (created) {
    // The row commits first (as pending) and the bytes land after; a scan is only requested once
    // both are true, so no worker can look for the file before it exists.
    try {
      await storeContent(content, deps.storageRoot);
    } catch (err) {
      await finishScan(deps.db, input.sha256, { error: 'the upload could not be stored' }).catch(
        () => {},
      );
      throw err;
    }
    await publish(deps, input);
    return { kind: 'pending', job: created, deduplicated: false };
  }

  // Scanned content the cache did not know (expired, Redis restarted or away): batched like a
  // cache hit. The locked path takes one transaction per upload, queued on the content's row lock,
  // and for a popular content that held duplicates to a few hundred a second.
  const scanned = await deps.writes.completedUpload(input);
  if (scanned?.results) {
    refillResultsCache(deps, input.sha256, scanned.results);
    return { kind: 'completed', job: scanned, results: scanned.results, level: 'postgres' };
  }

  const known = await recordKnownContentUpload(deps.db, input, async () => {
    await storeContent(content, deps.storageRoot);
  });
  switch (known.outcome) {
    case 'completed': {
      const results = known.job.results as LetterCounts;
      refillResultsCache(deps, input.sha256, results);
      return { kind: 'completed', job: known.job, results, level: 'postgres' };
    }
    case 'joined':
      return { kind: 'pending', job: known.job, deduplicated: true };
    case 'rescan':
      await publish(deps, input);
      return { kind: 'pending', job: known.job, deduplicated: false, rescan: true };
  }
}

/**
 * Asks for a scan. If Redis is unavailable (down, slow, or still owing an earlier answer) the
 * upload still succeeds: the content stays pending in Postgres with no publish time, and the
 * republisher sends it once Redis is back.
 */
async function publish(deps: RecordDeps, input: UploadInput): Promise<void> {
  try {
    await deps.redisCalls.call(
      (client) =>
        publishScan(client, deps.keys, {
          sha256: input.sha256,
          jobId: input.jobId,
          requestId: input.requestId ?? '',
        }),
      REDIS_TIMEOUT_MS,
      'xadd',
    );
  } catch (err) {
    deps.metrics.publishFailures.inc();
    deps.log.warn({ err, sha256: input.sha256 }, 'scan not published; left for the republisher');
    await markUnpublished(deps.db, input.sha256).catch((e) =>
      deps.log.warn(
        { err: e },
        'could not mark content unpublished; it is republished after REPUBLISH_AFTER_MS',
      ),
    );
  }
}
