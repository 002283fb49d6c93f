// Two janitor replicas, each with its own connection pool, against one database.
import { createDb, type Db } from '@scanner/db';
import { waitFor } from '@scanner/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobExists,
  DAY_MS,
  gate,
  insertJob,
  metricValue,
  seedContent,
  testJanitor,
  testSettings,
  useJanitorFixture,
} from '../test/support.js';

const fx = useJanitorFixture();
let dbA: Db;
let dbB: Db;

beforeAll(async () => {
  dbA = createDb({ url: fx.t.url, poolMax: 3 });
  dbB = createDb({ url: fx.t.url, poolMax: 3 });
});
afterAll(async () => {
  await Promise.allSettled([dbA?.destroy(), dbB?.destroy()]);
});

async function advisoryLocksHeld(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_locks
    where locktype = 'advisory' and granted
      and database = (select oid from pg_database where datname = current_database())`.execute(
    fx.t.db,
  );
  return rows[0]?.n ?? 0;
}

describe('cleanup lock across replicas', () => {
  it('while one replica runs a pass, another one skips', async () => {
    const old = await seedContent(fx.t.db, fx.volume.root, 'completed', 30 * DAY_MS);
    await insertJob(fx.t.db, {
      sha256: old,
      status: 'completed',
      expiresAt: new Date(Date.now() - 1000),
    });
    const a = testJanitor(dbA, fx.r, testSettings(fx.volume.root));
    const b = testJanitor(dbB, fx.r, testSettings(fx.volume.root));

    // Park replica A inside its pass: its job-expiry step waits behind this table lock.
    const release = gate();
    const locked = gate();
    const blocker = fx.t.db.transaction().execute(async (trx) => {
      await sql`lock table jobs in access exclusive mode`.execute(trx);
      locked.open();
      await release.opened;
    });
    await locked.opened;
    const passA = a.janitor.runPass({ trigger: 'schedule' });
    await waitFor(async () => (await advisoryLocksHeld()) === 1, {
      message: 'replica A to hold the cleanup lock',
    });

    const reportB = await b.janitor.runPass({ trigger: 'schedule' });
    expect(reportB.outcome).toBe('skipped');
    expect(reportB.filesDeleted).toBe(0);
    expect(
      await metricValue(b.registry, 'scanner_janitor_passes_total', { outcome: 'skipped' }),
    ).toBe(1);

    release.open();
    await blocker;
    const reportA = await passA;
    expect(reportA.outcome).toBe('completed');
    expect(reportA.filesDeleted).toBe(1);
    expect(reportA.jobsExpired).toBe(1);
    expect(await blobExists(fx.volume.root, old)).toBe(false);
    expect(await advisoryLocksHeld()).toBe(0);

    // The lock is free again: B runs now.
    expect((await b.janitor.runPass({ trigger: 'schedule' })).outcome).toBe('completed');
  });

  it('of two passes started together exactly one runs', async () => {
    const a = testJanitor(dbA, fx.r, testSettings(fx.volume.root));
    const b = testJanitor(dbB, fx.r, testSettings(fx.volume.root));
    const release = gate();
    const locked = gate();
    const blocker = fx.t.db.transaction().execute(async (trx) => {
      await sql`lock table jobs in access exclusive mode`.execute(trx);
      locked.open();
      await release.opened;
    });
    await locked.opened;
    const passes = [
      a.janitor.runPass({ trigger: 'schedule' }),
      b.janitor.runPass({ trigger: 'schedule' }),
    ];
    // Whichever got the lock is parked behind the table lock; the other one has already returned.
    const first = await Promise.race(passes);
    expect(first.outcome).toBe('skipped');
    release.open();
    await blocker;
    const outcomes = (await Promise.all(passes)).map((p) => p.outcome).sort();
    expect(outcomes).toEqual(['completed', 'skipped']);
  });
});
