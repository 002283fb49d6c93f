// The janitor against the upload gateway's locked paths for content it already knows. The gateway's
// real repository functions (recordKnownContentUpload: SELECT … FOR UPDATE, then either refresh
// last_uploaded_at or, for content whose scan failed, place new bytes and go back to pending;
// recordCompletedUploads for scanned content) race real cleanup passes on a real volume.
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { contentPath } from '@scanner/core';
import {
  createDb,
  type Db,
  type KnownContentUpload,
  recordCompletedUploads,
  recordKnownContentUpload,
} from '@scanner/db';
import { discardContent, receiveContent, storeContent } from '@scanner/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobExists,
  DAY_MS,
  exists,
  fileRow,
  gate,
  seedContent,
  testJanitor,
  testSettings,
  useJanitorFixture,
} from '../test/support.js';

const fx = useJanitorFixture({ resetEachTest: true, tmpfsMb: 16 });
/** The janitor's own pool, as in its own process. */
let janitorDb: Db;

beforeAll(async () => {
  janitorDb = createDb({ url: fx.t.url, poolMax: 4 });
});
afterAll(async () => {
  await janitorDb?.destroy();
});

/**
 * The gateway's path for an upload of known content: the body is already received; the
 * decision and (for failed content) the placement happen under the row lock. `whileLocked` runs
 * with the lock held, before anything is placed.
 */
async function duplicateUpload(
  bytes: Buffer,
  whileLocked: () => Promise<void> = async () => {},
): Promise<KnownContentUpload> {
  const temp = await receiveContent(Readable.from([bytes]), fx.volume.root);
  let placed = false;
  try {
    return await recordKnownContentUpload(
      fx.t.db,
      {
        jobId: randomUUID(),
        sha256: temp.sha256,
        sizeBytes: temp.sizeBytes,
        originalFilename: 'again.txt',
        requestId: null,
        expiresAt: new Date(Date.now() + DAY_MS),
      },
      async () => {
        await whileLocked();
        await storeContent(temp, fx.volume.root);
        placed = true;
      },
    );
  } finally {
    if (!placed) await discardContent(temp);
  }
}

/**
 * The gateway's batched path for completed content (recordCompletedUploads: an old row is locked
 * and refreshed), left uncommitted until `release`.
 */
async function completedUploadHoldingLock(
  sha256: string,
  release: Promise<void>,
  locked: () => void,
) {
  await fx.t.db.transaction().execute(async (trx) => {
    const [job] = await recordCompletedUploads(trx, [
      {
        jobId: randomUUID(),
        sha256,
        sizeBytes: 0,
        originalFilename: 'again.txt',
        requestId: null,
        expiresAt: new Date(Date.now() + DAY_MS),
      },
    ]);
    expect(job?.results).toEqual(expect.any(Object));
    locked();
    await release;
  });
}

describe('cleanup racing duplicate uploads', () => {
  it('skips failed content whose re-upload holds the row, and the re-upload keeps its file', async () => {
    const bytes = randomBytes(1000);
    const failed = await seedContent(fx.t.db, fx.volume.root, 'failed', 30 * DAY_MS, bytes);
    const bystander = await seedContent(fx.t.db, fx.volume.root, 'completed', 30 * DAY_MS);
    const { janitor } = testJanitor(janitorDb, fx.r, testSettings(fx.volume.root));

    const lockHeld = gate();
    const release = gate();
    const upload = duplicateUpload(bytes, async () => {
      lockHeld.open();
      await release.opened;
    });
    await lockHeld.opened;

    const report = await janitor.runPass({ trigger: 'admin' });
    expect(report.outcome).toBe('completed');
    expect(report.filesDeleted).toBe(1);
    expect(await blobExists(fx.volume.root, bystander)).toBe(false);
    expect(await blobExists(fx.volume.root, failed)).toBe(true);

    release.open();
    expect((await upload).outcome).toBe('rescan');
    const row = await fileRow(fx.t.db, failed);
    expect(row.scan_status).toBe('pending');
    expect(row.blob_present).toBe(true);
    expect(await blobExists(fx.volume.root, failed)).toBe(true);

    // Pending now: no later pass touches it, however old its first upload.
    await janitor.runPass({ trigger: 'schedule' });
    expect(await blobExists(fx.volume.root, failed)).toBe(true);
  });

  it('skips completed content whose duplicate upload holds the row, then sees it recent', async () => {
    const sha = await seedContent(fx.t.db, fx.volume.root, 'completed', 30 * DAY_MS);
    const { janitor } = testJanitor(janitorDb, fx.r, testSettings(fx.volume.root));
    const lockHeld = gate();
    const release = gate();
    const upload = completedUploadHoldingLock(sha, release.opened, lockHeld.open);
    await lockHeld.opened;
    expect((await janitor.runPass({ trigger: 'admin' })).filesDeleted).toBe(0);
    release.open();
    await upload;
    expect((await janitor.runPass({ trigger: 'admin' })).filesDeleted).toBe(0);
    expect(await blobExists(fx.volume.root, sha)).toBe(true);
    expect((await fileRow(fx.t.db, sha)).blob_present).toBe(true);
  });

  it('a re-upload after deletion finds the blob gone and places its own bytes', async () => {
    const bytes = randomBytes(1000);
    const sha = await seedContent(fx.t.db, fx.volume.root, 'failed', 30 * DAY_MS, bytes);
    const { janitor } = testJanitor(janitorDb, fx.r, testSettings(fx.volume.root));
    expect((await janitor.runPass({ trigger: 'admin' })).filesDeleted).toBe(1);
    expect((await fileRow(fx.t.db, sha)).blob_present).toBe(false);
    expect((await duplicateUpload(bytes)).outcome).toBe('rescan');
    const row = await fileRow(fx.t.db, sha);
    expect(row).toMatchObject({
      scan_status: 'pending',
      blob_present: true,
      blob_deleted_at: null,
    });
    expect(await blobExists(fx.volume.root, sha)).toBe(true);
  });

  it.each([1, 2, 3])(
    'keeps the volume and the rows consistent under concurrent uploads (round %i)',
    async () => {
      const contents: Array<{ sha256: string; bytes: Buffer }> = [];
      for (let i = 0; i < 120; i++) {
        const bytes = randomBytes(200 + i);
        const sha256 = await seedContent(
          fx.t.db,
          fx.volume.root,
          i % 2 === 0 ? 'failed' : 'completed',
          30 * DAY_MS,
          bytes,
        );
        contents.push({ sha256, bytes });
      }
      const { janitor } = testJanitor(
        janitorDb,
        fx.r,
        testSettings(fx.volume.root, { batchSize: 3 }),
      );

      // Every content gets a duplicate upload, some two; all race one cleanup pass.
      const targets = [...contents, ...contents.filter((_, i) => i % 3 === 0)].sort(
        () => Math.random() - 0.5,
      );
      const uploads = Promise.all(targets.map((c) => duplicateUpload(c.bytes)));
      const [report, outcomes] = await Promise.all([
        janitor.runPass({ trigger: 'admin' }),
        uploads,
      ]);

      expect(report.outcome).toBe('completed');
      expect(outcomes).toHaveLength(targets.length);

      const rows = await fx.t.db.selectFrom('files').selectAll().execute();
      for (const row of rows) {
        const onDisk = await exists(contentPath(fx.volume.root, row.sha256));
        // The row tells the truth about the volume.
        expect(onDisk, `${row.sha256} (${row.scan_status}) on disk`).toBe(row.blob_present);
        // Content a job waits for is stored.
        if (row.scan_status === 'pending' || row.scan_status === 'processing')
          expect(onDisk).toBe(true);
      }
      const waiting = await fx.t.db
        .selectFrom('jobs')
        .select('sha256')
        .where('status', 'in', ['pending', 'processing'])
        .execute();
      expect(waiting.length).toBeGreaterThan(0);
      for (const job of waiting) expect(await blobExists(fx.volume.root, job.sha256)).toBe(true);

      // The failed half went back to pending with their bytes; the completed half stay completed.
      expect(rows.filter((row) => row.scan_status === 'pending')).toHaveLength(60);
      expect(rows.filter((row) => row.scan_status === 'completed')).toHaveLength(60);
    },
  );
});
