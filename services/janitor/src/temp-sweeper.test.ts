import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@scanner/core';
import { createTestDatabase, type TestDatabase } from '@scanner/db/testing';
import { createTestRedis, type TestRedis } from '@scanner/redis/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  age,
  exists,
  HOUR_MS,
  metricValue,
  mountTmpfs,
  resetState,
  type TmpfsVolume,
  testJanitor,
  testSettings,
} from '../test/support.js';

let t: TestDatabase;
let r: TestRedis;
let volume: TmpfsVolume;

beforeAll(async () => {
  [t, r, volume] = await Promise.all([createTestDatabase(), createTestRedis(), mountTmpfs(8)]);
});
afterAll(async () => {
  await Promise.allSettled([t?.drop(), r?.cleanup(), volume?.unmount()]);
});
beforeEach(async () => {
  await resetState(t.db, volume.root);
});

async function tempFile(name: string, ageMs: number, size = 500): Promise<string> {
  const path = join(tempDir(volume.root), name);
  await writeFile(path, Buffer.alloc(size, 0x62));
  await age(path, ageMs);
  return path;
}

describe('temp file sweep', () => {
  it('removes upload temp files older than TEMP_FILE_MAX_AGE and keeps fresh ones', async () => {
    const abandoned = await tempFile('1700000000000-abandoned.part', 2 * HOUR_MS, 700);
    const abandonedToo = await tempFile('1700000000001-abandoned.part', 26 * HOUR_MS, 300);
    const live = await tempFile('1700000000002-live.part', 10_000);
    const nested = join(tempDir(volume.root), 'some-dir');
    await mkdir(nested);
    await age(nested, 5 * HOUR_MS);

    const { janitor, registry } = testJanitor(
      t.db,
      r,
      testSettings(volume.root, { tempMaxAgeMs: HOUR_MS }),
    );
    const report = await janitor.runPass({ trigger: 'admin' });

    expect(report.tempFilesRemoved).toBe(2);
    expect(report.tempBytesRemoved).toBe(1000);
    expect(await exists(abandoned)).toBe(false);
    expect(await exists(abandonedToo)).toBe(false);
    expect(await exists(live)).toBe(true);
    expect(await exists(nested)).toBe(true);
    expect(await metricValue(registry, 'scanner_janitor_temp_files_removed_total')).toBe(2);
  });

  it('a dry run counts them and removes nothing', async () => {
    const abandoned = await tempFile('old.part', 2 * HOUR_MS);
    const { janitor } = testJanitor(t.db, r, testSettings(volume.root, { tempMaxAgeMs: HOUR_MS }));
    const report = await janitor.runPass({ trigger: 'admin', dryRun: true });
    expect(report.tempFilesRemoved).toBe(1);
    expect(await exists(abandoned)).toBe(true);
  });
});
