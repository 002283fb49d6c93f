import { contentPath, type FileScan } from '@scanner/core';
import type { FinishedJobs } from '@scanner/db';
import type { Logger } from '@scanner/logging';
import type { Redis, RedisKeys, ScanMessage } from '@scanner/redis';
import type { CompletionLog } from './completion-log.js';
import type { ScanSlots } from './scan-slots.js';
import type { ScanStore } from './scan-store.js';
import {
  SYNC_READ_MAX_BYTES,
  scanStoredFile,
  scanVerifiedSmallFileSync,
} from './scan-stored-file.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface ScanDeps {
  /** Claims, finishes, heartbeats and the results cache, batched across concurrent scans. */
  store: ScanStore;
  redis: Redis;
  keys: RedisKeys;
  log: Logger;
  metrics: WorkerMetrics;
  storageRoot: string;
  verify: boolean;
  maxRetries: number;
  /** The info line per batch of completed scans (request id to scan). */
  completions: CompletionLog;
  /** Scans running in this process, by content: a second message for one waits for its outcome. */
  running: Map<string, Promise<Disposition>>;
  /** Scans of files too large to read in one go that may stream at once (WORKER_LARGE_FILE_SCANS). */
  largeScans: ScanSlots;
}

/** `ack`: the message is done with. `keep`: leave it pending so it is reclaimed and tried again. */
export type Disposition = 'ack' | 'keep';

// File errors that no retry can fix: the stored content is gone or unreadable.
const PERMANENT_FS_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'ELOOP']);

export class PermanentScanError extends Error {}

/**
 * Handles one scan message, idempotently: content already scanned, or being scanned by a live
 * worker, is never scanned again. Results are committed (finishing every job waiting on that
 * content) before the caller acknowledges the message.
 */
export function processScan(
  deps: ScanDeps,
  msg: ScanMessage,
  signal: AbortSignal,
  delivery: { redelivered: boolean } = { redelivered: false },
): Promise<Disposition> {
  const same = deps.running.get(msg.sha256);
  if (same) {
    // A duplicate of a message this process is handling: done when that one is done.
    return same.then(
      (d) => {
        if (d === 'ack') deps.metrics.scans.inc({ outcome: 'already_done' });
        return d;
      },
      () => 'keep',
    );
  }
  const handling = scanOnce(deps, msg, signal, delivery);
  deps.running.set(msg.sha256, handling);
  const forget = () => {
    deps.running.delete(msg.sha256);
  };
  handling.then(forget, forget);
  return handling;
}

/** The message's fields on every line logged about it; built only when something is logged. */
function logFor(deps: ScanDeps, msg: ScanMessage): Logger {
  return deps.log.child({ sha256: msg.sha256, jobId: msg.jobId, requestId: msg.requestId });
}

async function scanOnce(
  deps: ScanDeps,
  msg: ScanMessage,
  signal: AbortSignal,
  delivery: { redelivered: boolean },
): Promise<Disposition> {
  // A small file is read and verified before any claim, then claimed and completed in one call.
  // Not for a redelivered entry (a worker may have died on it: the claim path counts attempts and
  // gives up after MAX_RETRIES), nor without verification (only bytes that hash to the address may
  // be recorded before the claim settles which bytes are current).
  if (!delivery.redelivered && deps.verify) {
    const started = performance.now();
    const quick = scanVerifiedSmallFileSync(contentPath(deps.storageRoot, msg.sha256), msg.sha256);
    const seconds = (performance.now() - started) / 1000;
    if (quick) {
      const finished = await deps.store.complete(msg.sha256, quick.counts, signal);
      // Null: not ours to complete (running elsewhere, finished, out of attempts): the claim path
      // below tells which.
      if (finished) {
        deps.metrics.scanDuration.observe(seconds);
        return recordCompleted(deps, msg, quick, finished, undefined);
      }
    }
  }
  const start = await deps.store.start(msg.sha256, signal);

  if (start.kind === 'finished') {
    deps.metrics.scans.inc({ outcome: 'already_done' });
    deps.log.debug(
      { sha256: msg.sha256 },
      'content already scanned; acknowledging duplicate message',
    );
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
    await fail(deps, msg, reason, signal);
    await deadLetter(deps, msg, reason, start.attempt);
    return 'ack';
  }

  deps.store.track(msg.sha256);
  try {
    return await scanClaimed(deps, msg, start, signal);
  } finally {
    deps.store.untrack(msg.sha256);
  }
}

/** Scans content this worker has claimed (heartbeats running) and records the outcome. */
async function scanClaimed(
  deps: ScanDeps,
  msg: ScanMessage,
  start: { attempt: number; sizeBytes: number },
  signal: AbortSignal,
): Promise<Disposition> {
  const path = contentPath(deps.storageRoot, msg.sha256);
  let releaseSlot: (() => void) | undefined;
  if (start.sizeBytes > SYNC_READ_MAX_BYTES) {
    try {
      releaseSlot = await deps.largeScans.acquire(signal);
    } catch {
      // Shutting down before a slot came free: another worker takes it over.
      deps.metrics.scans.inc({ outcome: 'interrupted' });
      return 'keep';
    }
  }
  const timer = deps.metrics.scanDuration.startTimer();
  deps.metrics.inFlight.inc();
  let scan: FileScan;
  try {
    scan = await scanStoredFile(path, { verify: deps.verify, sizeHint: start.sizeBytes, signal });
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
      logFor(deps, msg).info('scan interrupted by shutdown; left for another worker');
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
      await fail(deps, msg, reason, signal);
      return 'ack';
    }
    deps.metrics.scans.inc({ outcome: 'transient_error' });
    logFor(deps, msg).warn({ err, attempt: start.attempt }, 'scan failed; it will be retried');
    return 'keep';
  } finally {
    releaseSlot?.();
    deps.metrics.inFlight.dec();
    timer();
  }

  const finished = await deps.store.finish(msg.sha256, { results: scan.counts }, signal);
  return recordCompleted(deps, msg, scan, finished, start.attempt);
}

function recordCompleted(
  deps: ScanDeps,
  msg: ScanMessage,
  scan: FileScan,
  finished: FinishedJobs | null,
  /** The claim's attempt number; not known for a scan completed in one step. */
  attempt: number | undefined,
): Disposition {
  deps.metrics.bytesScanned.inc(scan.sizeBytes);
  deps.metrics.scans.inc({ outcome: 'completed' });
  if (finished) deps.metrics.jobsFinished.inc({ status: 'completed' }, finished.jobIds.length);
  deps.completions.add({
    sha256: msg.sha256,
    jobId: msg.jobId,
    requestId: msg.requestId,
    sizeBytes: scan.sizeBytes,
    jobs: finished?.jobIds.length ?? 0,
    ...(attempt === undefined ? {} : { attempt }),
  });
  // The results cache is left to the gateway's first duplicate (see ScanStore).
  return 'ack';
}

async function fail(deps: ScanDeps, msg: ScanMessage, reason: string, signal: AbortSignal) {
  const finished = await deps.store.finish(msg.sha256, { error: reason }, signal);
  deps.metrics.scans.inc({ outcome: 'failed' });
  if (finished) deps.metrics.jobsFinished.inc({ status: 'failed' }, finished.jobIds.length);
  logFor(deps, msg).warn({ reason, jobs: finished?.jobIds.length ?? 0 }, 'scan failed permanently');
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
