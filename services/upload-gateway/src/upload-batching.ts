import type { LetterCounts } from '@scanner/core';
import {
  type Db,
  GroupCommit,
  isConnectionError,
  type RecordedUpload,
  recordCompletedUploads,
  recordNewContents,
  type UploadInput,
} from '@scanner/db';
import { getCachedResults, type RedisKeys, type RedisStallGuard } from '@scanner/redis';

/** The two inserts every upload ends in, shared by the requests the gateway handles at once. */
export interface UploadWrites {
  /** The first upload of new content: its content row and job. Undefined if the content is known. */
  newContent(input: UploadInput): Promise<RecordedUpload | undefined>;
  /** An upload of scanned content as a completed job. Undefined if the content is not scanned. */
  completedUpload(input: UploadInput): Promise<RecordedUpload | undefined>;
}

// A batch that fails for its data is retried item by item; one that fails because Postgres is
// unreachable is not (every item would fail the same way, and the client gets a 503 sooner).
const retrySingly = (err: unknown) => !isConnectionError(err);

/**
 * Group commit: uploads arriving while a statement runs are recorded together by the next one,
 * so at a thousand uploads a second Postgres parses, plans and commits a few statements per
 * batch instead of one per upload. Each caller still gets its own row, only after the commit.
 */
export function groupedUploadWrites(db: Db, options: { maxInFlight?: number } = {}): UploadWrites {
  const maxInFlight = options.maxInFlight ?? 3;
  const newContent = new GroupCommit((inputs: UploadInput[]) => recordNewContents(db, inputs), {
    maxInFlight,
    // Each new content has exactly one first upload; a concurrent second one waits a batch and
    // then finds the row (the locked path decides it).
    key: (input) => input.sha256,
    retrySingly,
  });
  const completed = new GroupCommit((inputs: UploadInput[]) => recordCompletedUploads(db, inputs), {
    maxInFlight,
    retrySingly,
  });
  return {
    newContent: (input) => newContent.submit(input),
    completedUpload: (input) => completed.submit(input),
  };
}

/** Results cache reads, shared by the requests the gateway handles at once. */
export interface CacheReads {
  /** Cached results of a content; null on a miss, and when Redis is away or slow. */
  results(sha256: string): Promise<LetterCounts | null>;
}

const CACHE_READ_TIMEOUT_MS = 500;

/**
 * Every upload asks the results cache first; asked one by one, that is a command, a reply and a
 * wake-up of Redis per upload. Lookups arriving while one is on its way go out together as one
 * MGET. A failed or slow read is a miss for everyone in it: Postgres decides anyway. While an
 * earlier read is unanswered (`RedisStallGuard`), lookups are misses at once: with one read in
 * flight, a stalled Redis would otherwise let one batch through per timeout and the uploads
 * beyond that would queue without end.
 */
export function groupedCacheReads(
  redis: RedisStallGuard,
  keys: RedisKeys,
  onError: (err: unknown) => void,
): CacheReads {
  const reads = new GroupCommit(
    async (sha256s: string[]) => {
      try {
        return await redis.call(
          (client) => getCachedResults(client, keys, sha256s),
          CACHE_READ_TIMEOUT_MS,
          'get results',
        );
      } catch (err) {
        onError(err);
        return sha256s.map(() => null);
      }
    },
    { maxBatch: 256 },
  );
  return {
    results: (sha256) => (redis.usable ? reads.submit(sha256) : Promise.resolve(null)),
  };
}
