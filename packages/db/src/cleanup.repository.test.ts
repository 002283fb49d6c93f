import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  blobPresence,
  claimExpiredBlobs,
  countExpiredJobs,
  findExpiredBlobs,
  lockForOrphanRemoval,
  restoreBlobs,
  withCleanupLock,
} from './cleanup.repository.js';
import type { Db } from './db.js';
import type { ScanStatus } from './schema.js';
import { holdRowLock, uniqueSha, useTestDatabase } from './test-support.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

let db: Db;
useTestDatabase((testDb) => {
  db = testDb;
});

const newSha = () => uniqueSha('cleanup-repo');

async function insertFile(
  status: ScanStatus,
  ageMs: number,
  opts: { blobPresent?: boolean; size?: number } = {},
): Promise<string> {
  const sha256 = newSha();
  await db
    .insertInto('files')
    .values({
      sha256,
      size_bytes: opts.size ?? 10,
      scan_status: status,
      results: status === 'completed' ? JSON.stringify({ A: 1 }) : null,
      blob_present: opts.blobPresent ?? true,
      last_uploaded_at: sql<Date>`now() - make_interval(secs => ${ageMs / 1000})`,
    })
    .execute();
  return sha256;
}

async function blobPresent(sha256: string): Promise<boolean> {
  const row = await db
    .selectFrom('files')
    .select('blob_present')
    .where('sha256', '=', sha256)
    .executeTakeFirstOrThrow();
  return row.blob_present;
}

describe('claimExpiredBlobs', () => {
  it('takes only scanned, stored content older than the retention and marks it deleted', async () => {
    const oldCompleted = await insertFile('completed', 8 * DAY_MS, { size: 123 });
    const oldFailed = await insertFile('failed', 8 * DAY_MS);
    const recent = await insertFile('completed', DAY_MS);
    const pending = await insertFile('pending', 30 * DAY_MS);
    const processing = await insertFile('processing', 30 * DAY_MS);
    const alreadyGone = await insertFile('completed', 30 * DAY_MS, { blobPresent: false });

    const claimed = await db
      .transaction()
      .execute((trx) => claimExpiredBlobs(trx, { retentionMs: 7 * DAY_MS, limit: 100 }));

    const shas = claimed.map((c) => c.sha256);
    expect(shas).toEqual(expect.arrayContaining([oldCompleted, oldFailed]));
    for (const kept of [recent, pending, processing, alreadyGone]) expect(shas).not.toContain(kept);
    expect(claimed.find((c) => c.sha256 === oldCompleted)?.sizeBytes).toBe(123);

    const row = await db
      .selectFrom('files')
      .selectAll()
      .where('sha256', '=', oldCompleted)
      .executeTakeFirstOrThrow();
    expect(row.blob_present).toBe(false);
    expect(row.blob_deleted_at).toBeInstanceOf(Date);
    expect(row.results).toEqual({ A: 1 });
    expect(await blobPresent(recent)).toBe(true);
    expect(await blobPresent(pending)).toBe(true);
  });

  it('skips a row another transaction holds instead of waiting for it', async () => {
    const held = await insertFile('completed', 8 * DAY_MS);
    const free = await insertFile('completed', 8 * DAY_MS);
    const lock = await holdRowLock(db, held);
    try {
      const claimed = await db
        .transaction()
        .execute((trx) => claimExpiredBlobs(trx, { retentionMs: 7 * DAY_MS, limit: 100 }));
      expect(claimed.map((c) => c.sha256)).toContain(free);
      expect(claimed.map((c) => c.sha256)).not.toContain(held);
    } finally {
      await lock.release();
    }
    expect(await blobPresent(held)).toBe(true);
  });

  it('respects the batch limit, oldest first', async () => {
    const oldest = await insertFile('completed', 40 * DAY_MS);
    await insertFile('completed', 39 * DAY_MS);
    const claimed = await db
      .transaction()
      .execute((trx) => claimExpiredBlobs(trx, { retentionMs: 7 * DAY_MS, limit: 1 }));
    expect(claimed.map((c) => c.sha256)).toEqual([oldest]);
  });

  it('is undone by restoreBlobs in the same transaction', async () => {
    const sha = await insertFile('completed', 50 * DAY_MS);
    await db.transaction().execute(async (trx) => {
      const claimed = await claimExpiredBlobs(trx, { retentionMs: 45 * DAY_MS, limit: 10 });
      expect(claimed.map((c) => c.sha256)).toEqual([sha]);
      await restoreBlobs(trx, [sha]);
    });
    const row = await db
      .selectFrom('files')
      .selectAll()
      .where('sha256', '=', sha)
      .executeTakeFirstOrThrow();
    expect(row.blob_present).toBe(true);
    expect(row.blob_deleted_at).toBeNull();
  });
});

describe('findExpiredBlobs', () => {
  it('lists what would be claimed, page by page, without changing anything', async () => {
    const a = await insertFile('completed', 100 * DAY_MS);
    const b = await insertFile('failed', 100 * DAY_MS);
    await insertFile('pending', 100 * DAY_MS);
    const retentionMs = 90 * DAY_MS;
    const first = await findExpiredBlobs(db, { retentionMs, limit: 1 });
    const second = await findExpiredBlobs(db, {
      retentionMs,
      limit: 1,
      afterSha256: first[0]?.sha256,
    });
    const third = await findExpiredBlobs(db, {
      retentionMs,
      limit: 1,
      afterSha256: second[0]?.sha256,
    });
    expect([...first, ...second].map((r) => r.sha256).sort()).toEqual([a, b].sort());
    expect(third).toEqual([]);
    expect(await blobPresent(a)).toBe(true);
  });
});

describe('blobPresence', () => {
  it('reports rows that exist, and whether their blob is stored', async () => {
    const present = await insertFile('completed', 0);
    const gone = await insertFile('completed', 0, { blobPresent: false });
    const unknown = newSha();
    const map = await blobPresence(db, [present, gone, unknown]);
    expect(map.get(present)).toBe(true);
    expect(map.get(gone)).toBe(false);
    expect(map.has(unknown)).toBe(false);
    expect((await blobPresence(db, [])).size).toBe(0);
  });
});

describe('lockForOrphanRemoval', () => {
  it('tells missing, blob-absent, blob-present and busy rows apart', async () => {
    const gone = await insertFile('completed', 0, { blobPresent: false });
    const present = await insertFile('completed', 0);
    const busy = await insertFile('completed', 0, { blobPresent: false });
    const lock = await holdRowLock(db, busy);
    try {
      const check = (sha: string) =>
        db.transaction().execute((trx) => lockForOrphanRemoval(trx, sha));
      expect(await check(newSha())).toBe('no-row');
      expect(await check(gone)).toBe('blob-absent');
      expect(await check(present)).toBe('blob-present');
      expect(await check(busy)).toBe('busy');
    } finally {
      await lock.release();
    }
  });
});

describe('countExpiredJobs', () => {
  it('counts jobs at or past expires_at', async () => {
    const sha = await insertFile('completed', 0);
    const before = await countExpiredJobs(db);
    const job = (expiresAt: Date) => ({
      job_id: randomUUID(),
      sha256: sha,
      original_filename: 'a.txt',
      file_size: 10,
      status: 'completed' as const,
      completed_at: new Date(),
      expires_at: expiresAt,
    });
    await db
      .insertInto('jobs')
      .values([
        job(new Date(Date.now() - 1000)),
        job(new Date(Date.now() - 1000)),
        job(new Date(Date.now() + DAY_MS)),
      ])
      .execute();
    expect(await countExpiredJobs(db)).toBe(before + 2);
  });
});

describe('withCleanupLock', () => {
  it('lets one holder in at a time and releases on return and on throw', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const first = withCleanupLock(db, async () => {
      entered();
      await released;
      return 'first';
    });
    await inside;
    expect(await withCleanupLock(db, async () => 'second')).toEqual({ acquired: false });
    release();
    expect(await first).toEqual({ acquired: true, result: 'first' });

    await expect(
      withCleanupLock(db, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await withCleanupLock(db, async () => 'again')).toEqual({
      acquired: true,
      result: 'again',
    });
  });
});
