import { contentPath, scanFile } from '@scanner/core';
import { type Db, finishScan, heartbeatScan, isConnectionError, startScan } from '@scanner/db';
import type { Logger } from '@scanner/logging';
import { cacheResults, type Redis, type RedisKeys, type ScanMessage } from '@scanner/redis';
import { retryTransient } from './retry.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface ScanDeps {
  db: Db;
  redis: Redis;
  keys: RedisKeys;
  log: Logger;
  metrics: WorkerMetrics;
  storageRoot: string;
  verify: boolean;
  maxRetries: number;
  /** A scan whose heartbeat is older than this is presumed dead (same bound as reclaiming). */
  staleAfterMs: number;
  fileCacheTtlSeconds: number;
}

/** `ack`: the message is done with. `keep`: leave it pending so it is reclaimed and tried again. */
export type Disposition = 'ack' | 'keep';

// File errors that no retry can fix: the stored content is gone or unreadable.
const PERMANENT_FS_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'ELOOP']);

export class PermanentScanError extends Error {}

const dbRetry = (signal: AbortSignal, log: Logger) => ({
  attempts: 6,
  baseDelayMs: 100,
  maxDelayMs: 3_000,
  isTransient: isConnectionError,
  signal,
  onRetry: (err: unknown, attempt: number, delayMs: number) =>
    log.warn({ err, attempt, delayMs }, 'database unreachable; retrying'),
});

/**
 * Handles one scan message, idempotently: content already scanned, or being scanned by a live
 * worker, is never scanned again. Results are committed (finishing every job waiting on that
 * content) before the caller acknowledges the message.
 */
export async function processScan(
  deps: ScanDeps,
  msg: ScanMessage,
  signal: AbortSignal,
): Promise<Disposition> {
  const log = deps.log.child({ sha256: msg.sha256, jobId: msg.jobId, requestId: msg.requestId });
  const start = await retryTransient(
    () => startScan(deps.db, msg.sha256, deps.staleAfterMs),
    dbRetry(signal, log),
  );

  if (start.kind === 'finished') {
    deps.metrics.scans.inc({ outcome: 'already_done' });
    log.debug('content already scanned; acknowledging duplicate message');
    return 'ack';
  }
  if (start.kind === 'busy') {
    // Another worker is scanning it and alive. Keep this copy pending: if that worker dies, this
    // message is reclaimed and the scan taken over once its heartbeat goes stale.
    deps.metrics.scans.inc({ outcome: 'busy_elsewhere' });
    return 'keep';
  }
  if (start.kind === 'unknown') {
    await deadLetter(deps, msg, 'no content with this sha256 is recorded', 0);
    return 'ack';
  }
  if (start.attempt > deps.maxRetries) {
    const reason = `scan abandoned: delivered ${start.attempt} times, more than MAX_RETRIES=${deps.maxRetries}`;
    await fail(deps, log, msg, reason, signal);
    await deadLetter(deps, msg, reason, start.attempt);
    return 'ack';
  }

  const path = contentPath(deps.storageRoot, msg.sha256);
  const heartbeat = setInterval(
    () => {
      heartbeatScan(deps.db, msg.sha256).catch((err) => log.warn({ err }, 'heartbeat failed'));
    },
    Math.max(50, Math.floor(deps.staleAfterMs / 3)),
  );
  const timer = deps.metrics.scanDuration.startTimer();
  deps.metrics.inFlight.inc();
  let scan: Awaited<ReturnType<typeof scanFile>>;
  try {
    scan = await scanFile(path, { verify: deps.verify, sizeHint: start.sizeBytes, signal });
    if (scan.sizeBytes !== start.sizeBytes) {
      throw new PermanentScanError(
        `stored file is corrupted: ${scan.sizeBytes} bytes on disk, ${start.sizeBytes} uploaded`,
      );
    }
    if (scan.sha256 !== null && scan.sha256 !== msg.sha256) {
      throw new PermanentScanError(
        'stored file is corrupted: its SHA-256 does not match its content address',
      );
    }
  } catch (err) {
    if (signal.aborted) {
      deps.metrics.scans.inc({ outcome: 'interrupted' });
      log.info('scan interrupted by shutdown; left for another worker');
      return 'keep';
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof PermanentScanError || (code && PERMANENT_FS_ERRORS.has(code))) {
      const reason =
        err instanceof PermanentScanError
          ? err.message
          : code === 'ENOENT'
            ? 'stored file is missing'
            : `stored file is unreadable (${code})`;
      await fail(deps, log, msg, reason, signal);
      return 'ack';
    }
    deps.metrics.scans.inc({ outcome: 'transient_error' });
    log.warn({ err, attempt: start.attempt }, 'scan failed; it will be retried');
    return 'keep';
  } finally {
    clearInterval(heartbeat);
    deps.metrics.inFlight.dec();
    timer();
  }

  const finished = await retryTransient(
    () => finishScan(deps.db, msg.sha256, { results: scan.counts }),
    dbRetry(signal, log),
  );
  deps.metrics.bytesScanned.inc(scan.sizeBytes);
  deps.metrics.scans.inc({ outcome: 'completed' });
  if (finished) deps.metrics.jobsFinished.inc({ status: 'completed' }, finished.jobIds.length);
  log.info(
    { sizeBytes: scan.sizeBytes, jobs: finished?.jobIds.length ?? 0, attempt: start.attempt },
    'scan completed',
  );
  if (deps.redis.isReady) {
    await cacheResults(
      deps.redis,
      deps.keys,
      msg.sha256,
      scan.counts,
      deps.fileCacheTtlSeconds,
    ).catch((err) => log.debug({ err }, 'results cache write failed'));
  }
  return 'ack';
}

async function fail(
  deps: ScanDeps,
  log: Logger,
  msg: ScanMessage,
  reason: string,
  signal: AbortSignal,
) {
  const finished = await retryTransient(
    () => finishScan(deps.db, msg.sha256, { error: reason }),
    dbRetry(signal, log),
  );
  deps.metrics.scans.inc({ outcome: 'failed' });
  if (finished) deps.metrics.jobsFinished.inc({ status: 'failed' }, finished.jobIds.length);
  log.warn({ reason, jobs: finished?.jobIds.length ?? 0 }, 'scan failed permanently');
}

/** Keeps a record of given-up messages for operators; bounded, unlike the main stream. */
async function deadLetter(deps: ScanDeps, msg: ScanMessage, reason: string, attempts: number) {
  deps.metrics.deadLetters.inc();
  await deps.redis
    .xAdd(
      deps.keys.deadLetterStream,
      '*',
      {
        sha256: msg.sha256,
        job_id: msg.jobId,
        request_id: msg.requestId,
        reason,
        attempts: String(attempts),
        failed_at: new Date().toISOString(),
      },
      { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: 100_000 } },
    )
    .catch((err) =>
      deps.log.warn({ err, sha256: msg.sha256, reason }, 'could not write dead letter'),
    );
}
