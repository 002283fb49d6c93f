import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@scanner/core';
import { describe, expect, it } from 'vitest';
import {
  age,
  exists,
  HOUR_MS,
  metricValue,
  testJanitor,
  testSettings,
  useJanitorFixture,
} from '../test/support.js';

const fx = useJanitorFixture({ resetEachTest: true });

async function tempFile(name: string, ageMs: number, size = 500): Promise<string> {
  const path = join(tempDir(fx.volume.root), name);
  await writeFile(path, Buffer.alloc(size, 0x62));
  await age(path, ageMs);
  return path;
}

describe('temp file sweep', () => {
  it('removes upload temp files older than TEMP_FILE_MAX_AGE and keeps fresh ones', async () => {
    const abandoned = await tempFile('1700000000000-abandoned.part', 2 * HOUR_MS, 700);
    const abandonedToo = await tempFile('1700000000001-abandoned.part', 26 * HOUR_MS, 300);
    const live = await tempFile('1700000000002-live.part', 10_000);
    const nested = join(tempDir(fx.volume.root), 'some-dir');
    await mkdir(nested);
    await age(nested, 5 * HOUR_MS);

    const { janitor, registry } = testJanitor(
      fx.t.db,
      fx.r,
      testSettings(fx.volume.root, { tempMaxAgeMs: HOUR_MS }),
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
    const { janitor } = testJanitor(
      fx.t.db,
      fx.r,
      testSettings(fx.volume.root, { tempMaxAgeMs: HOUR_MS }),
    );
    const report = await janitor.runPass({ trigger: 'admin', dryRun: true });
    expect(report.tempFilesRemoved).toBe(1);
    expect(await exists(abandoned)).toBe(true);
  });
});
