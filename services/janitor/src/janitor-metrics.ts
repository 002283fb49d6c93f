import type { StorageTier } from '@scanner/core';
import { Counter, Gauge, Histogram, type Registry } from '@scanner/http-kit';

const TIERS: StorageTier[] = ['healthy', 'warning', 'critical', 'emergency'];
export const PASS_OUTCOMES = ['completed', 'interrupted', 'skipped', 'failed'] as const;
export type PassOutcome = (typeof PASS_OUTCOMES)[number];

export interface JanitorMetrics {
  recordStorage(usedRatio: number, tier: StorageTier): void;
  filesDeleted: Counter;
  bytesDeleted: Counter;
  orphanFilesRemoved: Counter;
  tempFilesRemoved: Counter;
  jobsExpired: Counter;
  passes: Counter<'outcome'>;
  passDuration: Histogram;
  lastSuccess: Gauge;
}

export function janitorMetrics(registry: Registry): JanitorMetrics {
  const registers = [registry];
  const usedRatio = new Gauge({
    name: 'scanner_storage_used_ratio',
    help: 'Used fraction (0-1) of the filesystem holding the content volume, as df reports it.',
    registers,
  });
  // One series per tier, 1 for the current one: alerts can match on the label.
  const tier = new Gauge({
    name: 'scanner_storage_tier',
    help: 'Current storage tier of the content volume (1 for the active tier, 0 for the others).',
    labelNames: ['tier'],
    registers,
  });
  const passes = new Counter({
    name: 'scanner_janitor_passes_total',
    help: 'Cleanup passes by outcome (skipped: another replica held the cleanup lock).',
    labelNames: ['outcome'],
    registers,
  });
  for (const outcome of PASS_OUTCOMES) passes.inc({ outcome }, 0);
  return {
    recordStorage(ratio, current) {
      usedRatio.set(ratio);
      for (const t of TIERS) tier.set({ tier: t }, t === current ? 1 : 0);
    },
    filesDeleted: new Counter({
      name: 'scanner_janitor_files_deleted_total',
      help: 'Content files deleted because their last upload was older than the tier retention.',
      registers,
    }),
    bytesDeleted: new Counter({
      name: 'scanner_janitor_bytes_deleted_total',
      help: 'Bytes freed by deleting content files and orphans.',
      registers,
    }),
    orphanFilesRemoved: new Counter({
      name: 'scanner_janitor_orphan_files_removed_total',
      help: 'Files at content addresses that no stored content claimed.',
      registers,
    }),
    tempFilesRemoved: new Counter({
      name: 'scanner_janitor_temp_files_removed_total',
      help: 'Abandoned upload temp files removed.',
      registers,
    }),
    jobsExpired: new Counter({
      name: 'scanner_janitor_jobs_expired_total',
      help: 'Jobs deleted after their expires_at.',
      registers,
    }),
    passes,
    passDuration: new Histogram({
      name: 'scanner_janitor_pass_duration_seconds',
      help: 'Duration of cleanup passes that ran (dry runs included).',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'scanner_janitor_last_success_timestamp_seconds',
      help: 'Unix time at which the last non-dry-run cleanup pass completed.',
      registers,
    }),
  };
}
