import { randomUUID } from 'node:crypto';
import type { LetterCounts } from '@scanner/core';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Db } from './db.js';
import {
  completeScans,
  finishScans,
  heartbeatScans,
  markPublished,
  startScan,
  startScans,
} from './files.repository.js';
import type { ScanStatus } from './schema.js';
import { holdRowLock, uniqueSha, useTestDatabase } from './test-support.js';

let db: Db;
useTestDatabase((testDb) => {
  db = testDb;
});

const newSha = () => uniqueSha('files-repo');

const counts = (a: number): LetterCounts =>
  Object.fromEntries(
    'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('').map((l, i) => [l, i === 0 ? a : 0]),
  ) as LetterCounts;

/** A content row and `jobs` waiting on it, as uploads leave them. */
async function seed(
  opts: {
    status?: ScanStatus;
    jobs?: number;
    attempts?: number;
    heartbeatAgeMs?: number;
    size?: number;
  } = {},
): Promise<{ sha256: string; jobIds: string[] }> {
  const sha256 = newSha();
  const status = opts.status ?? 'pending';
  await db
    .insertInto('files')
    .values({
      sha256,
      size_bytes: opts.size ?? 10,
      scan_status: status,
      results: status === 'completed' ? JSON.stringify(counts(1)) : null,
      scan_attempts: opts.attempts ?? 0,
      heartbeat_at:
        opts.heartbeatAgeMs === undefined
          ? null
          : sql<Date>`now() - make_interval(secs => ${opts.heartbeatAgeMs / 1000})`,
    })
    .execute();
  const jobIds = await addJobs(db, sha256, opts.jobs ?? 1);
  return { sha256, jobIds };
}

async function addJobs(conn: Db, sha256: string, n: number): Promise<string[]> {
  const jobIds = Array.from({ length: n }, () => randomUUID());
  if (n > 0) {
    await conn
      .insertInto('jobs')
      .values(
        jobIds.map((job_id) => ({
          job_id,
          sha256,
          original_filename: 'f.txt',
          file_size: 10,
          expires_at: new Date(Date.now() + 3_600_000),
        })),
      )
      .execute();
  }
  return jobIds;
}

const file = (sha256: string) =>
  db.selectFrom('files').selectAll().where('sha256', '=', sha256).executeTakeFirstOrThrow();
const jobs = (sha256: string) =>
  db.selectFrom('jobs').selectAll().where('sha256', '=', sha256).orderBy('job_id').execute();

describe('startScans', () => {
  it('claims many contents in one call, answering each in order', async () => {
    const pending = await seed({ jobs: 2 });
    const retried = await seed({ attempts: 1 });
    const done = await seed({ status: 'completed' });
    const failed = await seed({ status: 'failed' });
    const running = await seed({ status: 'processing', attempts: 1, heartbeatAgeMs: 0 });
    const ghost = newSha();

    const starts = await startScans(
      db,
      [pending.sha256, done.sha256, ghost, retried.sha256, running.sha256, failed.sha256],
      30_000,
    );
    expect(starts).toEqual([
      { kind: 'started', attempt: 1, sizeBytes: 10 },
      { kind: 'finished' },
      { kind: 'unknown' },
      { kind: 'started', attempt: 2, sizeBytes: 10 },
      { kind: 'busy' },
      { kind: 'finished' },
    ]);
    const row = await file(pending.sha256);
    expect(row.scan_status).toBe('processing');
    expect(row.heartbeat_at).toBeInstanceOf(Date);
    for (const job of await jobs(pending.sha256)) {
      expect(job).toMatchObject({ status: 'processing', retry_count: 1 });
    }
    expect((await jobs(retried.sha256))[0]).toMatchObject({ status: 'processing', retry_count: 2 });
    // Untouched: a live scan elsewhere keeps its attempt count and its jobs.
    expect((await file(running.sha256)).scan_attempts).toBe(1);
    expect((await jobs(done.sha256))[0]?.status).toBe('pending');
  });

  it('takes over a scan whose heartbeat went stale, counting the attempt', async () => {
    const stale = await seed({ status: 'processing', attempts: 1, heartbeatAgeMs: 60_000 });
    expect(await startScan(db, stale.sha256, 30_000)).toMatchObject({
      kind: 'started',
      attempt: 2,
    });
    // Now fresh: a second claim finds it busy.
    expect(await startScan(db, stale.sha256, 30_000)).toEqual({ kind: 'busy' });
  });

  it('claims a content given twice once: the second occurrence is busy', async () => {
    const a = await seed();
    const starts = await startScans(db, [a.sha256, a.sha256], 30_000);
    expect(starts.map((s) => s.kind)).toEqual(['started', 'busy']);
    expect((await file(a.sha256)).scan_attempts).toBe(1);
  });

  it('never gives one content to two concurrent batches', async () => {
    const rows = await Promise.all(Array.from({ length: 20 }, () => seed()));
    const shas = rows.map((r) => r.sha256);
    const [forward, backward] = await Promise.all([
      startScans(db, shas, 30_000),
      startScans(db, [...shas].reverse(), 30_000),
    ]);
    const backwardInOrder = [...backward].reverse();
    shas.forEach((_, i) => {
      const kinds = [forward[i]?.kind, backwardInOrder[i]?.kind].sort();
      expect(kinds).toEqual(['busy', 'started']);
    });
    for (const sha of shas) expect((await file(sha)).scan_attempts).toBe(1);
  });
});

describe('finishScans', () => {
  it('records results and errors for many contents in one call and finishes their jobs', async () => {
    const ok = await seed({ status: 'processing', jobs: 2 });
    const bad = await seed({ status: 'processing', jobs: 1 });
    const already = await seed({ status: 'completed' });
    const finished = await finishScans(db, [
      { sha256: ok.sha256, outcome: { results: counts(7) } },
      { sha256: already.sha256, outcome: { results: counts(9) } },
      { sha256: bad.sha256, outcome: { error: 'stored file is missing' } },
    ]);
    expect(finished[0]?.jobIds.sort()).toEqual([...ok.jobIds].sort());
    expect(finished[1]).toBeNull();
    expect(finished[2]).toEqual({ jobIds: bad.jobIds });

    const okRow = await file(ok.sha256);
    expect(okRow).toMatchObject({
      scan_status: 'completed',
      results: counts(7),
      heartbeat_at: null,
    });
    expect(okRow.scanned_at).toBeInstanceOf(Date);
    for (const job of await jobs(ok.sha256)) {
      expect(job.status).toBe('completed');
      expect(job.completed_at).toBeInstanceOf(Date);
    }
    expect(await file(bad.sha256)).toMatchObject({
      scan_status: 'failed',
      results: null,
      error_message: 'stored file is missing',
    });
    expect((await jobs(bad.sha256))[0]).toMatchObject({
      status: 'failed',
      error_message: 'stored file is missing',
    });
    // Finished content is never overwritten.
    expect((await file(already.sha256)).results).toEqual(counts(1));
  });

  it('answers null for every occurrence after the first of a content given twice', async () => {
    const a = await seed({ status: 'processing' });
    const finished = await finishScans(db, [
      { sha256: a.sha256, outcome: { results: counts(1) } },
      { sha256: a.sha256, outcome: { results: counts(2) } },
    ]);
    expect(finished).toEqual([{ jobIds: a.jobIds }, null]);
    expect((await file(a.sha256)).results).toEqual(counts(1));
  });

  it('finishes a job an upload adds while holding the content row lock (the upload commits first)', async () => {
    const a = await seed({ status: 'processing' });
    const b = await seed({ status: 'processing' });
    let added: string[] = [];
    // What the gateway does for an upload of content being scanned: lock, add a job, commit.
    const upload = await holdRowLock(db, b.sha256, async (trx) => {
      added = await addJobs(trx, b.sha256, 1);
    });
    const finishing = finishScans(db, [
      { sha256: a.sha256, outcome: { results: counts(3) } },
      { sha256: b.sha256, outcome: { results: counts(4) } },
    ]);
    let settled = false;
    void finishing.finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false); // waiting for the upload's lock
    await upload.release();
    const finished = await finishing;
    expect(finished[1]?.jobIds.sort()).toEqual([...b.jobIds, ...added].sort());
    for (const job of await jobs(b.sha256)) expect(job.status).toBe('completed');
  });

  it('two batches sharing contents in opposite orders do not deadlock', async () => {
    const rows = await Promise.all(
      Array.from({ length: 30 }, () => seed({ status: 'processing' })),
    );
    const items = rows.map((r) => ({ sha256: r.sha256, outcome: { results: counts(5) } }));
    const results = await Promise.all([
      finishScans(db, items),
      finishScans(db, [...items].reverse()),
      startScans(
        db,
        rows.map((r) => r.sha256),
        0,
      ),
    ]);
    // Each content finished by exactly one of the two finishing batches.
    const forward = results[0];
    const backward = [...results[1]].reverse();
    rows.forEach((_, i) => {
      expect([forward[i], backward[i]].filter((f) => f !== null)).toHaveLength(1);
    });
    for (const r of rows) expect((await file(r.sha256)).scan_status).toBe('completed');
  });
});

describe('completeScans', () => {
  const opts = { staleAfterMs: 30_000, maxAttempts: 3 };

  it('claims and completes content waiting for a scan in one call, counting the attempt', async () => {
    const pending = await seed({ jobs: 2 });
    const stale = await seed({ status: 'processing', attempts: 1, heartbeatAgeMs: 60_000 });
    const done = await completeScans(
      db,
      [
        { sha256: pending.sha256, results: counts(7) },
        { sha256: stale.sha256, results: counts(8) },
        { sha256: pending.sha256, results: counts(7) },
      ],
      opts,
    );
    expect(done[0]?.jobIds.sort()).toEqual([...pending.jobIds].sort());
    expect(done[1]?.jobIds).toEqual(stale.jobIds);
    expect(done[2]).toBeNull(); // the same content twice: completed once
    expect(await file(pending.sha256)).toMatchObject({
      scan_status: 'completed',
      scan_attempts: 1,
      results: counts(7),
      heartbeat_at: null,
    });
    expect((await file(stale.sha256)).scan_attempts).toBe(2);
    for (const job of await jobs(pending.sha256)) {
      expect(job.status).toBe('completed');
      expect(job.completed_at).toBeInstanceOf(Date);
    }
  });

  it('leaves alone what a claim would not take: a live scan, finished content, no attempts left, unknown content', async () => {
    const live = await seed({ status: 'processing', attempts: 1, heartbeatAgeMs: 0 });
    const completed = await seed({ status: 'completed' });
    const failed = await seed({ status: 'failed' });
    const exhausted = await seed({ attempts: 3 });
    const rows = [live, completed, failed, exhausted];
    const done = await completeScans(
      db,
      [...rows, { sha256: newSha() }].map((r) => ({ sha256: r.sha256, results: counts(9) })),
      opts,
    );
    expect(done).toEqual([null, null, null, null, null]);
    expect((await file(live.sha256)).scan_status).toBe('processing');
    expect((await file(failed.sha256)).scan_status).toBe('failed');
    expect(await file(exhausted.sha256)).toMatchObject({
      scan_status: 'pending',
      scan_attempts: 3,
    });
    expect((await file(completed.sha256)).results).toEqual(counts(1));
  });

  it('finishes a job an upload adds while holding the content row lock', async () => {
    const a = await seed();
    let added: string[] = [];
    const upload = await holdRowLock(db, a.sha256, async (trx) => {
      added = await addJobs(trx, a.sha256, 1);
    });
    const completing = completeScans(db, [{ sha256: a.sha256, results: counts(2) }], opts);
    await new Promise((r) => setTimeout(r, 100));
    await upload.release();
    const [done] = await completing;
    expect(done?.jobIds.sort()).toEqual([...a.jobIds, ...added].sort());
  });
});

describe('heartbeatScans', () => {
  it('refreshes running scans and skips rows another transaction holds', async () => {
    const a = await seed({ status: 'processing', heartbeatAgeMs: 60_000 });
    const b = await seed({ status: 'processing', heartbeatAgeMs: 60_000 });
    const done = await seed({ status: 'completed' });
    const holder = await holdRowLock(db, b.sha256);
    const refreshed = await heartbeatScans(db, [a.sha256, b.sha256, done.sha256]);
    await holder.release();
    expect(refreshed).toEqual([a.sha256]);
    const fresh = await startScans(db, [a.sha256, b.sha256], 30_000);
    expect(fresh.map((s) => s.kind)).toEqual(['busy', 'started']);
  });
});

describe('markPublished', () => {
  it('stamps published_at on the given contents', async () => {
    const a = await seed();
    await db
      .updateTable('files')
      .set({ published_at: null })
      .where('sha256', '=', a.sha256)
      .execute();
    await markPublished(db, [a.sha256]);
    expect((await file(a.sha256)).published_at).toBeInstanceOf(Date);
  });
});
