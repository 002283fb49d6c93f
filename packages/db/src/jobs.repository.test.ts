import { randomUUID } from 'node:crypto';
import type { LetterCounts } from '@scanner/core';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Db } from './db.js';
import { finishScan } from './files.repository.js';
import {
  findJob,
  recordCompletedUploads,
  recordNewContent,
  recordNewContents,
  type UploadInput,
} from './jobs.repository.js';
import { uniqueSha, useTestDatabase } from './test-support.js';

let db: Db;
useTestDatabase((testDb) => {
  db = testDb;
});

const sha = uniqueSha;

function upload(sha256: string, overrides: Partial<UploadInput> = {}): UploadInput {
  return {
    jobId: randomUUID(),
    sha256,
    sizeBytes: 42,
    originalFilename: 'a.txt',
    requestId: null,
    expiresAt: new Date(Date.now() + 86_400_000),
    ...overrides,
  };
}

/** Opens every pool connection first, so the batches below really run at the same time. */
async function warmPool() {
  await Promise.all(Array.from({ length: 10 }, () => sql`SELECT pg_sleep(0.05)`.execute(db)));
}

const RESULTS = Object.fromEntries(
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'].map((letter, i) => [letter, i]),
) as LetterCounts;

describe('recordNewContents', () => {
  it('records each new content with its job in one statement, and reports known content as undefined', async () => {
    const known = sha('known');
    await recordNewContent(db, upload(known));
    const fresh = [sha('a'), sha('b'), sha('c')];
    const inputs = [
      upload(fresh[0] as string, { originalFilename: 'quote\'s, "comma" {brace} \\ ü.txt' }),
      upload(known),
      upload(fresh[1] as string, { requestId: 'req-1', sizeBytes: 0 }),
      upload(fresh[2] as string, { originalFilename: 'NULL' }),
    ];
    const views = await recordNewContents(db, inputs);
    expect(views.map((v) => v?.jobId)).toEqual([
      inputs[0]?.jobId,
      undefined,
      inputs[2]?.jobId,
      inputs[3]?.jobId,
    ]);
    expect(views[0]).toEqual({
      jobId: inputs[0]?.jobId,
      sha256: fresh[0],
      fileSize: 42,
      results: null,
    });
    expect(views[2]).toMatchObject({ sha256: fresh[1], fileSize: 0 });
    // What was stored, read back as clients see it.
    expect(await findJob(db, inputs[0]?.jobId as string)).toMatchObject({
      status: 'pending',
      originalFilename: 'quote\'s, "comma" {brace} \\ ü.txt',
      fileSize: 42,
      deduplicated: false,
      results: null,
      expiresAt: inputs[0]?.expiresAt,
    });
    expect(await findJob(db, inputs[2]?.jobId as string)).toMatchObject({ requestId: 'req-1' });
    expect((await findJob(db, inputs[3]?.jobId as string))?.originalFilename).toBe('NULL');
    const files = await db
      .selectFrom('files')
      .select(['sha256', 'scan_status', 'size_bytes'])
      .where('sha256', 'in', fresh)
      .execute();
    expect(files).toHaveLength(3);
    expect(await findJob(db, inputs[1]?.jobId as string)).toBeUndefined();
  });

  it('refuses a batch holding the same content twice', async () => {
    const twice = sha('twice');
    await expect(recordNewContents(db, [upload(twice), upload(twice)])).rejects.toThrow(TypeError);
  });

  it('lets concurrent batches race for the same new contents without deadlocks: each content is created once', async () => {
    const shas = Array.from({ length: 400 }, (_, i) => sha(`race-${i}`));
    // Every batch holds all of them, in a different order.
    const batches = Array.from({ length: 8 }, (_, b) =>
      (b % 2 === 0 ? shas : [...shas].reverse()).map((s) => upload(s)),
    );
    await warmPool();
    const results = await Promise.all(batches.map((batch) => recordNewContents(db, batch)));
    const created = results.flat().filter((v) => v !== undefined);
    expect(created).toHaveLength(shas.length);
    expect(new Set(created.map((v) => v.sha256)).size).toBe(shas.length);
  });
});

describe('recordCompletedUploads', () => {
  it('records completed jobs with the stored size and results, only for scanned content', async () => {
    const scanned = sha('scanned');
    const pending = sha('pending');
    await recordNewContent(db, upload(scanned, { sizeBytes: 7 }));
    await recordNewContent(db, upload(pending));
    await finishScan(db, scanned, { results: RESULTS });
    const inputs = [
      upload(scanned, { sizeBytes: 0, originalFilename: 'one.txt' }),
      upload(pending),
      upload(sha('unknown')),
      upload(scanned, { sizeBytes: 0, originalFilename: 'two.txt' }),
    ];
    const views = await recordCompletedUploads(db, inputs);
    expect(views[1]).toBeUndefined();
    expect(views[2]).toBeUndefined();
    for (const [i, name] of [
      [0, 'one.txt'],
      [3, 'two.txt'],
    ] as const) {
      expect(views[i]).toEqual({
        jobId: inputs[i]?.jobId,
        sha256: scanned,
        fileSize: 7,
        results: RESULTS,
      });
      const stored = await findJob(db, inputs[i]?.jobId as string);
      expect(stored).toMatchObject({
        status: 'completed',
        deduplicated: true,
        fileSize: 7,
        originalFilename: name,
        results: RESULTS,
        expiresAt: inputs[i]?.expiresAt,
      });
      expect(stored?.completedAt).toBeInstanceOf(Date);
    }
    // Both jobs share the content's results, parsed once.
    expect(views[0]?.results).toBe(views[3]?.results);
  });

  it('refreshes last_uploaded_at once it is a minute old, and leaves a fresh row unwritten', async () => {
    const scanned = sha('refresh');
    await recordNewContent(db, upload(scanned));
    await finishScan(db, scanned, { results: RESULTS });
    const row = async () => {
      const { rows } = await sql<{ version: string; age_s: number }>`
        SELECT xmin::text AS version, extract(epoch FROM now() - last_uploaded_at) AS age_s
        FROM files WHERE sha256 = ${scanned}`.execute(db);
      return rows[0] as { version: string; age_s: number };
    };
    await sql`UPDATE files SET last_uploaded_at = now() - interval '61 seconds'
              WHERE sha256 = ${scanned}`.execute(db);
    await recordCompletedUploads(db, [upload(scanned)]);
    const refreshed = await row();
    expect(Number(refreshed.age_s)).toBeLessThan(5);

    await sql`UPDATE files SET last_uploaded_at = now() - interval '50 seconds'
              WHERE sha256 = ${scanned}`.execute(db);
    const recent = await row();
    const views = await recordCompletedUploads(db, [upload(scanned), upload(scanned)]);
    expect(views.every((v) => v?.results !== null && v?.results !== undefined)).toBe(true);
    const after = await row();
    expect(after.version).toBe(recent.version);
    expect(Number(after.age_s)).toBeGreaterThanOrEqual(50);
  });

  it('lets concurrent batches over the same scanned contents finish without deadlocks', async () => {
    const shas = Array.from({ length: 200 }, (_, i) => sha(`scanned-${i}`));
    await recordNewContents(
      db,
      shas.map((s) => upload(s)),
    );
    for (const s of shas) await finishScan(db, s, { results: RESULTS });
    const batches = Array.from({ length: 8 }, (_, b) =>
      (b % 2 === 0 ? shas : [...shas].reverse()).map((s) => upload(s)),
    );
    await warmPool();
    const results = await Promise.all(batches.map((batch) => recordCompletedUploads(db, batch)));
    expect(results.flat().every((v) => v?.results !== null && v?.results !== undefined)).toBe(true);
  });
});

describe('jobs table layout', () => {
  it('keeps status changes heap-only: no index reads status, pages keep room for the new version', async () => {
    const { rows: indexes } = await sql<{ indexdef: string }>`
      SELECT indexdef FROM pg_indexes WHERE tablename = 'jobs'`.execute(db);
    expect(indexes.length).toBeGreaterThan(0);
    for (const { indexdef } of indexes)
      expect(indexdef).not.toMatch(/status|completed_at|updated_at/);
    const { rows } = await sql<{ reloptions: string[] | null }>`
      SELECT reloptions FROM pg_class WHERE relname = 'jobs'`.execute(db);
    expect(rows[0]?.reloptions).toContain('fillfactor=80');

    // A status change stays on its page: one connection, so its statistics are flushed here.
    const job = await recordNewContent(db, upload(sha('hot')));
    await db.connection().execute(async (conn) => {
      const hot = async () => {
        await sql`SELECT pg_stat_force_next_flush()`.execute(conn);
        const { rows } = await sql<{ n: string }>`
          SELECT n_tup_hot_upd AS n FROM pg_stat_user_tables WHERE relname = 'jobs'`.execute(conn);
        return Number(rows[0]?.n ?? 0);
      };
      const before = await hot();
      await sql`UPDATE jobs SET status = 'completed', completed_at = now(), updated_at = now()
                WHERE job_id = ${job?.jobId}`.execute(conn);
      expect(await hot()).toBe(before + 1);
    });
  });
});
