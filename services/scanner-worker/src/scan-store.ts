import type { LetterCounts } from '@scanner/core';
import {
  completeScans,
  type Db,
  type FinishedJobs,
  finishScans,
  GroupCommit,
  heartbeatScans,
  isConnectionError,
  type ScanOutcome,
  type ScanStart,
  startScans,
} from '@scanner/db';
import type { Logger } from '@scanner/logging';
import { retryTransient } from './retry.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface ScanStoreOptions {
  db: Db;
  log: Logger;
  metrics: Pick<WorkerMetrics, 'batchSize'>;
  /** A scan whose heartbeat is older than this is presumed dead (same bound as reclaiming). */
  staleAfterMs: number;
  /** Deliveries a content may have (MAX_RETRIES): a completion counts as one. */
  maxAttempts: number;
  /** Largest claim or finish batch (default 256). */
  maxBatch?: number;
}

/** Worth trying again: Postgres unreachable, or a transaction it chose to abort (deadlock victim). */
export function isRetryableDbError(err: unknown): boolean {
  if (isConnectionError(err)) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

const dbRetry = (signal: AbortSignal, log: Logger) => ({
  attempts: 6,
  baseDelayMs: 100,
  maxDelayMs: 3_000,
  isTransient: isRetryableDbError,
  signal,
  onRetry: (err: unknown, attempt: number, delayMs: number) =>
    log.warn({ err, attempt, delayMs }, 'database unreachable; retrying'),
});

interface Claim {
  sha256: string;
  signal: AbortSignal;
}

interface Finish extends Claim {
  outcome: ScanOutcome;
}

interface Completion extends Claim {
  results: LetterCounts;
}

/**
 * The worker's side of Postgres, batched: every claim and every finish
 * submitted while the previous one runs (or in the same turn of the event loop) goes to Postgres
 * as one call and one transaction, whatever the scans have in common. A small file therefore
 * costs a share of two calls instead of two calls, and a large one holds nobody back: it simply
 * joins whatever batch is forming when its scan ends. Heartbeats for every running scan go in one
 * statement per period.
 *
 * Results are not written to the Redis results cache here: most content is never uploaded twice,
 * and one entry per scan for FILE_CACHE_TTL (~330 bytes each; 28 GB a day at a thousand scans a
 * second) would grow Redis with the ingest rate. The gateway fills it from Postgres on the first
 * duplicate (cache-aside), so it holds only content that is asked for again.
 */
export class ScanStore {
  readonly #o: ScanStoreOptions;
  readonly #claims: GroupCommit<Claim, ScanStart>;
  readonly #finishes: GroupCommit<Finish, FinishedJobs | null>;
  readonly #completions: GroupCommit<Completion, FinishedJobs | null>;
  readonly #running = new Set<string>();
  #heartbeat: NodeJS.Timeout | undefined;
  #beating: Promise<void> = Promise.resolve();

  constructor(options: ScanStoreOptions) {
    this.#o = options;
    const { db, log, staleAfterMs } = options;
    const maxBatch = options.maxBatch ?? 256;
    // A batch failing for something other than the database being away is run again item by item.
    const splitOn = (err: unknown) => !isRetryableDbError(err);
    this.#claims = new GroupCommit(
      (items: Claim[]) =>
        retryTransient(
          () =>
            startScans(
              db,
              items.map((c) => c.sha256),
              staleAfterMs,
            ),
          dbRetry((items[0] as Claim).signal, log),
        ),
      {
        maxBatch,
        retrySingly: splitOn,
        onBatch: (n) => options.metrics.batchSize.observe({ op: 'claim' }, n),
      },
    );
    this.#finishes = new GroupCommit(
      (items: Finish[]) =>
        retryTransient(() => finishScans(db, items), dbRetry((items[0] as Finish).signal, log)),
      {
        maxBatch,
        retrySingly: splitOn,
        onBatch: (n) => options.metrics.batchSize.observe({ op: 'finish' }, n),
      },
    );
    this.#completions = new GroupCommit(
      (items: Completion[]) =>
        retryTransient(
          () => completeScans(db, items, { staleAfterMs, maxAttempts: options.maxAttempts }),
          dbRetry((items[0] as Completion).signal, log),
        ),
      {
        maxBatch,
        retrySingly: splitOn,
        onBatch: (n) => options.metrics.batchSize.observe({ op: 'complete' }, n),
      },
    );
  }

  /** Claims the scan of a content for this worker (see `startScans`). */
  start(sha256: string, signal: AbortSignal): Promise<ScanStart> {
    return this.#claims.submit({ sha256, signal });
  }

  /** Records a scan's outcome and finishes its jobs (see `finishScans`); null if not ours to finish. */
  finish(sha256: string, outcome: ScanOutcome, signal: AbortSignal): Promise<FinishedJobs | null> {
    return this.#finishes.submit({ sha256, outcome, signal });
  }

  /**
   * Claims and completes, in one step, a scan whose results are known before any claim (see
   * `completeScans`); null when a claim would not have been granted, and nothing was recorded.
   */
  complete(
    sha256: string,
    results: LetterCounts,
    signal: AbortSignal,
  ): Promise<FinishedJobs | null> {
    return this.#completions.submit({ sha256, results, signal });
  }

  /** Heartbeats this scan until `untrack`. */
  track(sha256: string): void {
    this.#running.add(sha256);
  }

  untrack(sha256: string): void {
    this.#running.delete(sha256);
  }

  /** One heartbeat statement for all running scans, several times per staleness period. */
  startHeartbeats(): void {
    this.#heartbeat ??= setInterval(
      () => {
        if (this.#running.size === 0) return;
        this.#beating = heartbeatScans(this.#o.db, [...this.#running]).then(
          () => undefined,
          (err) => this.#o.log.warn({ err }, 'heartbeat failed'),
        );
      },
      Math.max(50, Math.floor(this.#o.staleAfterMs / 3)),
    );
  }

  /** Stops heartbeats and waits for one still on its way. */
  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await this.#beating;
  }
}
