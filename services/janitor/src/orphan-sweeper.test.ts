import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { contentPath, tempDir } from '@scanner/core';
import { describe, expect, it } from 'vitest';
import {
  age,
  blobExists,
  DAY_MS,
  exists,
  fileRow,
  gate,
  HOUR_MS,
  insertContent,
  metricValue,
  storeBlob,
  testJanitor,
  testSettings,
  useJanitorFixture,
} from '../test/support.js';

const fx = useJanitorFixture({ resetEachTest: true });

/** A file at a content address, last modified `ageMs` ago. */
async function blobAged(ageMs: number): Promise<string> {
  const sha256 = await storeBlob(fx.volume.root, randomBytes(1000));
  await age(contentPath(fx.volume.root, sha256), ageMs);
  return sha256;
}

const settings = () => testSettings(fx.volume.root, { tempMaxAgeMs: HOUR_MS });

describe('orphan sweep', () => {
  it('removes old files no content claims, and only those', async () => {
    const noRow = await blobAged(2 * HOUR_MS);
    const rowSaysGone = await blobAged(2 * HOUR_MS);
    await insertContent(fx.t.db, {
      sha256: rowSaysGone,
      status: 'completed',
      ageMs: 30 * DAY_MS,
      blobPresent: false,
    });
    const freshNoRow = await blobAged(60_000);
    const claimed = await blobAged(2 * HOUR_MS);
    await insertContent(fx.t.db, { sha256: claimed, status: 'completed', ageMs: HOUR_MS });
    // Not content addresses: never touched.
    const junk = join(dirname(contentPath(fx.volume.root, claimed)), 'notes.txt');
    await writeFile(junk, 'hello');
    await age(junk, 5 * DAY_MS);
    const misplacedSha = createHash('sha256').update('misplaced').digest('hex');
    const misplaced = join(fx.volume.root, '00', '00', misplacedSha);
    await mkdir(dirname(misplaced), { recursive: true });
    await writeFile(misplaced, 'x');
    await age(misplaced, 5 * DAY_MS);

    const { janitor, registry } = testJanitor(fx.t.db, fx.r, settings());
    const report = await janitor.runPass({ trigger: 'admin' });

    expect(report.orphanFilesRemoved).toBe(2);
    expect(report.orphanBytesRemoved).toBe(2000);
    expect(await blobExists(fx.volume.root, noRow)).toBe(false);
    expect(await blobExists(fx.volume.root, rowSaysGone)).toBe(false);
    expect(await blobExists(fx.volume.root, freshNoRow)).toBe(true);
    expect(await blobExists(fx.volume.root, claimed)).toBe(true);
    expect(await exists(junk)).toBe(true);
    expect(await exists(misplaced)).toBe(true);
    // The row that said "gone" keeps saying so (and keeps its results).
    expect(await fileRow(fx.t.db, rowSaysGone)).toMatchObject({
      blob_present: false,
      scan_status: 'completed',
    });
    // Nothing is left behind where orphans were moved aside.
    expect((await readdir(tempDir(fx.volume.root))).filter((n) => n.startsWith('orphan-'))).toEqual(
      [],
    );
    expect(await metricValue(registry, 'scanner_janitor_orphan_files_removed_total')).toBe(2);
  });

  it('leaves a file alone while an upload holds its row', async () => {
    const sha = await blobAged(2 * HOUR_MS);
    await insertContent(fx.t.db, {
      sha256: sha,
      status: 'failed',
      ageMs: 30 * DAY_MS,
      blobPresent: false,
    });
    const held = gate();
    const release = gate();
    const upload = fx.t.db.transaction().execute(async (trx) => {
      await trx
        .selectFrom('files')
        .select('sha256')
        .where('sha256', '=', sha)
        .forUpdate()
        .execute();
      held.open();
      await release.opened;
    });
    await held.opened;
    const { janitor } = testJanitor(fx.t.db, fx.r, settings());
    const report = await janitor.runPass({ trigger: 'admin' });
    release.open();
    await upload;
    expect(report.orphanFilesRemoved).toBe(0);
    expect(await blobExists(fx.volume.root, sha)).toBe(true);
  });

  it('prunes fan-out directories left empty for longer than the bound', async () => {
    const kept = await blobAged(2 * HOUR_MS);
    await insertContent(fx.t.db, { sha256: kept, status: 'completed', ageMs: HOUR_MS });
    await age(dirname(contentPath(fx.volume.root, kept)), 2 * HOUR_MS);
    // Top-level fan-out directories of their own: the kept blob's (random) one is never empty.
    const [a = 'aa', c = 'cc'] = ['aa', 'cc', 'ee'].filter((p) => p !== kept.slice(0, 2));
    const emptyOld = join(fx.volume.root, a, 'bb');
    const emptyFresh = join(fx.volume.root, c, 'dd');
    const other = join(fx.volume.root, 'lost+found');
    await mkdir(emptyOld, { recursive: true });
    await mkdir(emptyFresh, { recursive: true });
    await mkdir(other);
    await age(emptyOld, 2 * HOUR_MS);
    await age(other, 2 * HOUR_MS);

    const { janitor } = testJanitor(fx.t.db, fx.r, settings());
    const report = await janitor.runPass({ trigger: 'admin' });

    expect(await exists(emptyOld)).toBe(false);
    expect(await exists(emptyFresh)).toBe(true);
    expect(await exists(other)).toBe(true);
    expect(await blobExists(fx.volume.root, kept)).toBe(true);
    // Removing a/bb touched a: it goes at a later pass, once it too has been empty long enough.
    expect(await exists(join(fx.volume.root, a))).toBe(true);
    expect(report.dirsPruned).toBe(1);
    await age(join(fx.volume.root, a), 2 * HOUR_MS);
    expect((await janitor.runPass({ trigger: 'admin' })).dirsPruned).toBe(1);
    expect(await exists(join(fx.volume.root, a))).toBe(false);
  });

  it('a dry run reports orphans and removes nothing', async () => {
    const orphan = await blobAged(2 * HOUR_MS);
    const { janitor } = testJanitor(fx.t.db, fx.r, settings());
    const report = await janitor.runPass({ trigger: 'admin', dryRun: true });
    expect(report.orphanFilesRemoved).toBe(1);
    expect(await blobExists(fx.volume.root, orphan)).toBe(true);
  });
});
