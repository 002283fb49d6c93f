export type StorageTier = 'healthy' | 'warning' | 'critical' | 'emergency';

export interface TierPolicy {
  /** Usage ratios (0–1) at which each tier starts. */
  warningAt: number;
  criticalAt: number;
  emergencyAt: number;
  /** How long content files are kept in each tier. */
  retentionMs: Record<StorageTier, number>;
}

const HOUR_MS = 3_600_000;

export const DEFAULT_TIER_POLICY: TierPolicy = {
  warningAt: 0.85,
  criticalAt: 0.9,
  emergencyAt: 0.95,
  retentionMs: {
    healthy: 7 * 24 * HOUR_MS,
    warning: 3 * 24 * HOUR_MS,
    critical: 24 * HOUR_MS,
    emergency: 12 * HOUR_MS,
  },
};

export interface TierDecision {
  tier: StorageTier;
  retentionMs: number;
  acceptsUploads: boolean;
}

export function decideTier(
  usedRatio: number,
  policy: TierPolicy = DEFAULT_TIER_POLICY,
): TierDecision {
  const tier: StorageTier =
    usedRatio >= policy.emergencyAt
      ? 'emergency'
      : usedRatio >= policy.criticalAt
        ? 'critical'
        : usedRatio >= policy.warningAt
          ? 'warning'
          : 'healthy';
  return { tier, retentionMs: policy.retentionMs[tier], acceptsUploads: tier !== 'emergency' };
}

export interface VolumeUsage {
  totalBytes: number;
  usedBytes: number;
  freeBytes: number;
  usedRatio: number;
}

/**
 * Usage as `df` reports it: blocks reserved for root count neither as free nor as total, so the ratio
 * matches what operators see.
 */
export function volumeUsage(stats: {
  blocks: number;
  bfree: number;
  bavail: number;
  bsize: number;
}): VolumeUsage {
  const usedBytes = (stats.blocks - stats.bfree) * stats.bsize;
  const freeBytes = stats.bavail * stats.bsize;
  const totalBytes = usedBytes + freeBytes;
  return {
    totalBytes,
    usedBytes,
    freeBytes,
    usedRatio: totalBytes === 0 ? 0 : usedBytes / totalBytes,
  };
}
