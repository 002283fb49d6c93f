import { describe, expect, it } from 'vitest';
import { DEFAULT_TIER_POLICY, decideTier, type TierPolicy, volumeUsage } from './storage-tier.js';

const HOUR_MS = 3_600_000;

describe('decideTier', () => {
  it.each([
    [0, 'healthy'],
    [0.8499, 'healthy'],
    [0.849_999_999, 'healthy'],
    [0.85, 'warning'],
    [0.8999, 'warning'],
    [0.9, 'critical'],
    [0.9499, 'critical'],
    [0.95, 'emergency'],
    [1, 'emergency'],
  ] as const)('puts %f in %s', (ratio, tier) => {
    expect(decideTier(ratio).tier).toBe(tier);
  });

  it('keeps files 7 days, 3 days, 1 day, 12 hours and refuses uploads only in emergency', () => {
    expect(decideTier(0.5)).toEqual({
      tier: 'healthy',
      retentionMs: 168 * HOUR_MS,
      acceptsUploads: true,
    });
    expect(decideTier(0.86)).toEqual({
      tier: 'warning',
      retentionMs: 72 * HOUR_MS,
      acceptsUploads: true,
    });
    expect(decideTier(0.91)).toEqual({
      tier: 'critical',
      retentionMs: 24 * HOUR_MS,
      acceptsUploads: true,
    });
    expect(decideTier(0.96)).toEqual({
      tier: 'emergency',
      retentionMs: 12 * HOUR_MS,
      acceptsUploads: false,
    });
  });

  it('takes the boundaries from the usage df reports (84.99 %, 85 %, 90 %, 95 %)', () => {
    const at = (usedPercentHundredths: number) =>
      decideTier(
        volumeUsage({
          blocks: 10_000,
          bfree: 10_000 - usedPercentHundredths,
          bavail: 10_000 - usedPercentHundredths,
          bsize: 4096,
        }).usedRatio,
      ).tier;
    expect(at(8499)).toBe('healthy');
    expect(at(8500)).toBe('warning');
    expect(at(9000)).toBe('critical');
    expect(at(9500)).toBe('emergency');
  });

  it('follows a custom policy', () => {
    const policy: TierPolicy = {
      ...DEFAULT_TIER_POLICY,
      warningAt: 0.5,
      criticalAt: 0.6,
      emergencyAt: 0.7,
    };
    expect(decideTier(0.49, policy).tier).toBe('healthy');
    expect(decideTier(0.5, policy).tier).toBe('warning');
    expect(decideTier(0.6, policy).tier).toBe('critical');
    expect(decideTier(0.7, policy).acceptsUploads).toBe(false);
  });
});

describe('volumeUsage', () => {
  it('leaves root-reserved blocks out of both used and total, as df does', () => {
    // 1000 blocks: 300 free, of which 50 are reserved for root.
    const usage = volumeUsage({ blocks: 1000, bfree: 300, bavail: 250, bsize: 4096 });
    expect(usage).toEqual({
      usedBytes: 700 * 4096,
      freeBytes: 250 * 4096,
      totalBytes: 950 * 4096,
      usedRatio: 700 / 950,
    });
    expect(usage.usedBytes + usage.freeBytes).toBe(usage.totalBytes);
  });

  it('reports a full volume as 100 % even with reserved blocks left', () => {
    expect(volumeUsage({ blocks: 1000, bfree: 50, bavail: 0, bsize: 512 }).usedRatio).toBe(1);
  });

  it('reports an empty or zero-sized volume as 0 %', () => {
    expect(volumeUsage({ blocks: 1000, bfree: 1000, bavail: 1000, bsize: 4096 }).usedRatio).toBe(0);
    expect(volumeUsage({ blocks: 0, bfree: 0, bavail: 0, bsize: 4096 })).toEqual({
      totalBytes: 0,
      usedBytes: 0,
      freeBytes: 0,
      usedRatio: 0,
    });
  });

  it('stays exact for volumes past 4 TB', () => {
    const usage = volumeUsage({ blocks: 2 ** 31, bfree: 2 ** 30, bavail: 2 ** 30, bsize: 4096 });
    expect(usage.totalBytes).toBe(2 ** 43);
    expect(usage.usedRatio).toBe(0.5);
  });
});
