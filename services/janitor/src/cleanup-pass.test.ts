import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { contentPath, type StorageTier } from '@scanner/core';
import { describe, expect, it } from 'vitest';
import {
  blobExists,
  DAY_MS,
  fileRow,
  fillVolumeTo,
  HOUR_MS,
  metricValue,
  RESULTS,
  seedContent,
  testJanitor,
  testSettings,
  useJanitorFixture,
} from '../test/support.js';

const fx = useJanitorFixture({ resetEachTest: true });

/** One content per age; the tier decides which of them are past retention. */
async function seedAges() {
  const { db } = fx.t;
  const root = fx.volume.root;
  return {
    completed8d: await seedContent(db, root, 'completed', 8 * DAY_MS),
    failed8d: await seedContent(db, root, 'failed', 8 * DAY_MS),
    completed4d: await seedContent(db, root, 'completed', 4 * DAY_MS),
    completed2d: await seedContent(db, root, 'completed', 2 * DAY_MS),
    completed18h: await seedContent(db, root, 'completed', 18 * HOUR_MS),
    completed6h: await seedContent(db, root, 'completed', 6 * HOUR_MS),
    // A job still needs these, however old: never deleted.
    pending30d: await seedContent(db, root, 'pending', 30 * DAY_MS),
    processing30d: await seedContent(db, root, 'processing', 30 * DAY_MS),
  };
}

type Seeded = Awaited<ReturnType<typeof seedAges>>;

const cases: Array<{
  tier: StorageTier;
  fillTo: number;
  retentionMs: number;
  gone: Array<keyof Seeded>;
}> = [
  { tier: 'healthy', fillTo: 0.5, retentionMs: 7 * DAY_MS, gone: ['completed8d', 'failed8d'] },
  {
    tier: 'warning',
    fillTo: 0.87,
    retentionMs: 3 * DAY_MS,
    gone: ['completed8d', 'failed8d', 'completed4d'],
  },
  {
    tier: 'critical',
    fillTo: 0.92,
    retentionMs: DAY_MS,
    gone: ['completed8d', 'failed8d', 'completed4d', 'completed2d'],
  },
  {
    tier: 'emergency',
    fillTo: 0.97,
    retentionMs: 12 * HOUR_MS,
    gone: ['completed8d', 'failed8d', 'completed4d', 'completed2d', 'completed18h'],
  },
];

describe('tiered retention on a real volume', () => {
  it.each(cases)(
    '$tier ($fillTo full) deletes content last uploaded more than its retention ago',
    async (c) => {
      const seeded = await seedAges();
      const usage = await fillVolumeTo(fx.volume.root, c.fillTo);
      expect(usage.usedRatio).toBeGreaterThanOrEqual(c.fillTo);
      const { janitor, registry } = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root));

      const report = await janitor.runPass({ trigger: 'admin' });

      expect(report.outcome).toBe('completed');
      expect(report.storage?.tier).toBe(c.tier);
      expect(report.storage?.retentionMs).toBe(c.retentionMs);
      expect(report.storage?.usage.usedRatio).toBeCloseTo(usage.usedRatio, 3);
      expect(report.storage?.usageAfter?.usedBytes).toBeLessThan(usage.usedBytes);
      expect(report.filesDeleted).toBe(c.gone.length);
      expect(report.bytesDeleted).toBe(c.gone.length * 1000);

      for (const [name, sha256] of Object.entries(seeded) as Array<[keyof Seeded, string]>) {
        const deleted = c.gone.includes(name);
        expect(await blobExists(fx.volume.root, sha256), `${name} file`).toBe(!deleted);
        const row = await fileRow(fx.t.db, sha256);
        expect(row.blob_present, `${name} blob_present`).toBe(!deleted);
        expect(row.blob_deleted_at === null, `${name} blob_deleted_at`).toBe(!deleted);
      }
      // Results outlive their files.
      const gone = await fileRow(fx.t.db, seeded.completed8d);
      expect(gone.scan_status).toBe('completed');
      expect(gone.results).toEqual(JSON.parse(RESULTS));

      expect(await metricValue(registry, 'scanner_storage_tier', { tier: c.tier })).toBe(1);
      expect(await metricValue(registry, 'scanner_storage_tier', { tier: 'healthy' })).toBe(
        c.tier === 'healthy' ? 1 : 0,
      );
      expect(await metricValue(registry, 'scanner_storage_used_ratio')).toBeGreaterThan(0);
      expect(await metricValue(registry, 'scanner_janitor_files_deleted_total')).toBe(
        c.gone.length,
      );
      expect(await metricValue(registry, 'scanner_janitor_bytes_deleted_total')).toBe(
        c.gone.length * 1000,
      );
      expect(
        await metricValue(registry, 'scanner_janitor_passes_total', { outcome: 'completed' }),
      ).toBe(1);

      // A second pass finds nothing more to do.
      const again = await janitor.runPass({ trigger: 'schedule' });
      expect(again.filesDeleted).toBe(0);
    },
  );

  it('never deletes pending or processing content, even at emergency with everything ancient', async () => {
    const pending = await seedContent(fx.t.db, fx.volume.root, 'pending', 365 * DAY_MS);
    const processing = await seedContent(fx.t.db, fx.volume.root, 'processing', 365 * DAY_MS);
    await fillVolumeTo(fx.volume.root, 0.99);
    const { janitor } = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root));
    const report = await janitor.runPass({ trigger: 'admin' });
    expect(report.storage?.tier).toBe('emergency');
    expect(report.filesDeleted).toBe(0);
    expect(await blobExists(fx.volume.root, pending)).toBe(true);
    expect(await blobExists(fx.volume.root, processing)).toBe(true);
  });

  it('works through more expired content than one batch holds', async () => {
    const shas = [];
    for (let i = 0; i < 23; i++)
      shas.push(
        await seedContent(fx.t.db, fx.volume.root, 'completed', 10 * DAY_MS, randomBytes(100)),
      );
    const { janitor } = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root, { batchSize: 4 }));
    const report = await janitor.runPass({ trigger: 'admin' });
    expect(report.filesDeleted).toBe(23);
    for (const sha of shas) expect(await blobExists(fx.volume.root, sha)).toBe(false);
  });

  it('corrects a row that says stored when the file is already gone', async () => {
    const sha = await seedContent(fx.t.db, fx.volume.root, 'completed', 10 * DAY_MS);
    await rm(contentPath(fx.volume.root, sha));
    const { janitor } = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root));
    const report = await janitor.runPass({ trigger: 'admin' });
    expect(report.filesDeleted).toBe(0);
    expect((await fileRow(fx.t.db, sha)).blob_present).toBe(false);
  });

  it('a dry run reports what the pass would delete and deletes nothing', async () => {
    const seeded = await seedAges();
    await fillVolumeTo(fx.volume.root, 0.87);
    const { janitor, registry } = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root));
    const report = await janitor.runPass({ trigger: 'admin', dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.storage?.tier).toBe('warning');
    expect(report.filesDeleted).toBe(3);
    expect(report.bytesDeleted).toBe(3000);
    for (const sha256 of Object.values(seeded)) {
      expect(await blobExists(fx.volume.root, sha256)).toBe(true);
      expect((await fileRow(fx.t.db, sha256)).blob_present).toBe(true);
    }
    expect(await metricValue(registry, 'scanner_janitor_files_deleted_total')).toBe(0);
  });
});
