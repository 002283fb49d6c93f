import type { StorageTier, TierPolicy, VolumeUsage } from '@scanner/core';
import { type Db, withCleanupLock } from '@scanner/db';
import type { Logger } from '@scanner/logging';
import { republishLostScans } from '@scanner/recovery';
import type { Redis, RedisKeys } from '@scanner/redis';
import { ensureVolumeLayout, measureVolume } from '@scanner/storage';
import { deleteExpiredBlobs } from './expired-blobs.js';
import type { JanitorMetrics } from './janitor-metrics.js';
import { expireJobs } from './job-expiry.js';
import { sweepOrphans } from './orphan-sweeper.js';
import type { PhaseContext } from './phase-context.js';
import { sweepTempFiles } from './temp-sweeper.js';
import { decideRetention } from './tier-retention.js';

export interface CleanupSettings {
  storageRoot: string;
  tierPolicy: TierPolicy;
  /** Temp files and orphan blobs untouched for this long are removed. */
  tempMaxAgeMs: number;
  /** Rows per transaction, files per lookup. */
  batchSize: number;
  pruneEmptyDirs: boolean;
  /** When set, a pass also republishes scans the queue lost (the workers do too, more often). */
  recovery?: { republishAfterMs: number; staleAfterMs: number };
}

export const DEFAULT_BATCH_SIZE = 200;

export interface CleanupDeps {
  db: Db;
  redis: Redis;
  keys: RedisKeys;
  log: Logger;
  metrics: JanitorMetrics;
  settings: CleanupSettings;
}

export type PassTrigger = 'schedule' | 'admin';

export interface PassReport {
  /** `skipped`: another replica held the cleanup lock. `interrupted`: stopped early by shutdown. */
  outcome: 'completed' | 'interrupted' | 'skipped';
  trigger: PassTrigger;
  dryRun: boolean;
  startedAt: Date;
  durationMs: number;
  storage: {
    tier: StorageTier;
    retentionMs: number;
    usage: VolumeUsage;
    /** Measured again once the pass is done (null for dry runs). */
    usageAfter: VolumeUsage | null;
  } | null;
  filesDeleted: number;
  bytesDeleted: number;
  fileDeleteFailures: number;
  tempFilesRemoved: number;
  tempBytesRemoved: number;
  orphanFilesRemoved: number;
  orphanBytesRemoved: number;
  dirsPruned: number;
  jobsExpired: number;
  scansRepublished: number;
}

type Work = Omit<PassReport, 'outcome' | 'trigger' | 'dryRun' | 'startedAt' | 'durationMs'>;

const NOTHING: Work = {
  storage: null,
  filesDeleted: 0,
  bytesDeleted: 0,
  fileDeleteFailures: 0,
  tempFilesRemoved: 0,
  tempBytesRemoved: 0,
  orphanFilesRemoved: 0,
  orphanBytesRemoved: 0,
  dirsPruned: 0,
  jobsExpired: 0,
  scansRepublished: 0,
};

/**
 * One cleanup pass: measure the volume and pick the tier, delete content files past the tier's
 * retention, sweep temp files and orphans, expire jobs. A real pass runs only while holding the
 * cleanup lock, so replicas never delete at the same time; a dry run changes nothing and needs no
 * lock. Records metrics and logs one line per pass; a failure is logged, counted and rethrown.
 */
export async function runCleanupPass(
  deps: CleanupDeps,
  opts: { dryRun: boolean; trigger: PassTrigger; signal: AbortSignal },
): Promise<PassReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const log = deps.log.child({ component: 'cleanup', trigger: opts.trigger, dryRun: opts.dryRun });
  const finish = (outcome: PassReport['outcome'], work: Work): PassReport => ({
    outcome,
    trigger: opts.trigger,
    dryRun: opts.dryRun,
    startedAt,
    durationMs: Math.round(performance.now() - t0),
    ...work,
  });
  try {
    const ctx: PhaseContext = {
      db: deps.db,
      log,
      storageRoot: deps.settings.storageRoot,
      dryRun: opts.dryRun,
      batchSize: deps.settings.batchSize,
      signal: opts.signal,
    };
    let report: PassReport;
    if (opts.dryRun) {
      report = finish(opts.signal.aborted ? 'interrupted' : 'completed', await doWork(deps, ctx));
    } else {
      const locked = await withCleanupLock(deps.db, () => doWork(deps, ctx));
      report = locked.acquired
        ? finish(opts.signal.aborted ? 'interrupted' : 'completed', locked.result)
        : finish('skipped', NOTHING);
    }
    record(deps.metrics, report);
    if (report.outcome === 'skipped') {
      log.info('cleanup pass skipped: another janitor holds the cleanup lock');
    } else {
      log.info(summary(report), 'cleanup pass finished');
    }
    return report;
  } catch (err) {
    deps.metrics.passes.inc({ outcome: 'failed' });
    deps.metrics.passDuration.observe((performance.now() - t0) / 1000);
    log.error({ err }, 'cleanup pass failed');
    throw err;
  }
}

async function doWork(deps: CleanupDeps, ctx: PhaseContext): Promise<Work> {
  const { settings } = deps;
  // Recreates .tmp if someone removed it: orphans are moved there before they are deleted.
  await ensureVolumeLayout(settings.storageRoot);
  const decision = await decideRetention(settings.storageRoot, settings.tierPolicy);
  deps.metrics.recordStorage(decision.usage.usedRatio, decision.tier);

  const blobs = await deleteExpiredBlobs(ctx, decision.retentionMs);
  const temp = await sweepTempFiles(ctx, settings.tempMaxAgeMs);
  const orphans = await sweepOrphans(ctx, settings.tempMaxAgeMs, {
    pruneEmptyDirs: settings.pruneEmptyDirs,
  });
  const jobs = await expireJobs({ ...ctx, redis: deps.redis, keys: deps.keys });
  const scansRepublished =
    settings.recovery && !ctx.dryRun
      ? await republishLostScans({ ...deps, ...settings.recovery }).catch((err) => {
          ctx.log.warn({ err }, 'republishing lost scans failed');
          return 0;
        })
      : 0;

  let usageAfter: VolumeUsage | null = null;
  if (!ctx.dryRun) {
    usageAfter = await measureVolume(settings.storageRoot);
    deps.metrics.recordStorage(usageAfter.usedRatio, decision.tier);
  }
  return {
    storage: {
      tier: decision.tier,
      retentionMs: decision.retentionMs,
      usage: decision.usage,
      usageAfter,
    },
    filesDeleted: blobs.filesDeleted,
    bytesDeleted: blobs.bytesDeleted,
    fileDeleteFailures: blobs.failures,
    tempFilesRemoved: temp.removed,
    tempBytesRemoved: temp.bytes,
    orphanFilesRemoved: orphans.removed,
    orphanBytesRemoved: orphans.bytes,
    dirsPruned: orphans.dirsPruned,
    jobsExpired: jobs.expired,
    scansRepublished,
  };
}

function record(m: JanitorMetrics, r: PassReport): void {
  m.passes.inc({ outcome: r.outcome });
  if (r.outcome === 'skipped') return;
  m.passDuration.observe(r.durationMs / 1000);
  if (r.dryRun) return;
  m.filesDeleted.inc(r.filesDeleted);
  m.bytesDeleted.inc(r.bytesDeleted + r.orphanBytesRemoved);
  m.orphanFilesRemoved.inc(r.orphanFilesRemoved);
  m.tempFilesRemoved.inc(r.tempFilesRemoved);
  m.jobsExpired.inc(r.jobsExpired);
  if (r.outcome === 'completed') m.lastSuccess.set(Date.now() / 1000);
}

function summary(r: PassReport): Record<string, unknown> {
  return {
    outcome: r.outcome,
    tier: r.storage?.tier,
    usedRatio: r.storage?.usage.usedRatio,
    usedRatioAfter: r.storage?.usageAfter?.usedRatio,
    retentionMs: r.storage?.retentionMs,
    filesDeleted: r.filesDeleted,
    bytesDeleted: r.bytesDeleted,
    fileDeleteFailures: r.fileDeleteFailures,
    tempFilesRemoved: r.tempFilesRemoved,
    orphanFilesRemoved: r.orphanFilesRemoved,
    dirsPruned: r.dirsPruned,
    jobsExpired: r.jobsExpired,
    scansRepublished: r.scansRepublished,
    durationMs: r.durationMs,
  };
}
