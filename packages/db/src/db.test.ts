import { TcpProxy } from '@scanner/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db, isConnectionError } from './db.js';
import { createTestDatabase, type TestDatabase } from './testing.js';

let t: TestDatabase;
const opened: Db[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  // Empty, as every table is on a fresh deployment.
  await sql`CREATE TABLE plan_items (sha char(64) PRIMARY KEY, n int NOT NULL)`.execute(t.db);
});
afterAll(async () => {
  await Promise.all(opened.map((db) => db.destroy().catch(() => {})));
  await t?.drop();
});

/** The generic plan (the one a prepared statement keeps) of a lookup by key, on one connection. */
async function genericLookupPlan(preferIndexes: boolean): Promise<string> {
  const db = createDb({ url: t.url, poolMax: 1, preferIndexes });
  opened.push(db);
  return db.connection().execute(async (conn) => {
    await sql`SET plan_cache_mode = force_generic_plan`.execute(conn);
    await sql`PREPARE lookup(char(64)[]) AS SELECT n FROM plan_items WHERE sha = ANY($1)`.execute(
      conn,
    );
    const { rows } = await sql<{
      'QUERY PLAN': string;
    }>`EXPLAIN EXECUTE lookup(ARRAY[repeat('a', 64)]::char(64)[])`.execute(conn);
    await sql`DEALLOCATE lookup`.execute(conn);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

describe('createDb preferIndexes', () => {
  it('plans a lookup by key on an empty table with its index, where the default scans the table', async () => {
    expect(await genericLookupPlan(false)).toMatch(/Seq Scan on plan_items/);
    const plan = await genericLookupPlan(true);
    expect(plan).toMatch(/plan_items_pkey/);
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it('sets enable_seqscan off on every connection of the pool, and only there', async () => {
    const preferring = createDb({ url: t.url, poolMax: 2, preferIndexes: true });
    opened.push(preferring);
    const session = async (db: Db) => {
      const { rows } = await sql<{ pid: number; enable_seqscan: string }>`
        SELECT pg_backend_pid() AS pid, current_setting('enable_seqscan') AS enable_seqscan`.execute(
        db,
      );
      return rows[0] as { pid: number; enable_seqscan: string };
    };
    // One connection held while the pool answers on its other one.
    const [held, other] = await preferring
      .connection()
      .execute(async (conn) => [await session(conn), await session(preferring)]);
    expect(held?.pid).not.toBe(other?.pid);
    expect([held?.enable_seqscan, other?.enable_seqscan]).toEqual(['off', 'off']);
    expect((await session(t.db)).enable_seqscan).toBe('on');
  });

  it('keeps the server options of the connection URL', async () => {
    const url = new URL(t.url);
    url.searchParams.set('options', '-c work_mem=7MB');
    const db = createDb({ url: url.toString(), poolMax: 1, preferIndexes: true });
    opened.push(db);
    const { rows } = await sql<{
      work_mem: string;
      enable_seqscan: string;
    }>`SELECT current_setting('work_mem') AS work_mem,
              current_setting('enable_seqscan') AS enable_seqscan`.execute(db);
    expect(rows[0]).toEqual({ work_mem: '7MB', enable_seqscan: 'off' });
  });
});

describe('createDb query deadline', () => {
  it('fails a query on a connection gone silent (half-open) in time, and the next gets a new one', async () => {
    const url = new URL(t.url);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
    url.port = String(await proxy.start());
    // One connection, so the query after the failure must not get the dead one back.
    const db = createDb({ url: url.toString(), poolMax: 1, statementTimeoutMs: 300 });
    opened.push(db);
    const one = async () => (await sql<{ n: number }>`SELECT 1 AS n`.execute(db)).rows[0]?.n;
    try {
      expect(await one()).toBe(1);
      proxy.sever();
      const started = performance.now();
      const err = await one().then(
        () => undefined,
        (e: unknown) => e,
      );
      // statement timeout 300 ms, plus as much again.
      expect(performance.now() - started).toBeLessThan(3_000);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toBe('Query read timeout');
      expect(isConnectionError(err)).toBe(true);
      expect(await one()).toBe(1);
    } finally {
      await db.destroy().catch(() => {});
      await proxy.cut();
    }
  });

  it('leaves a slow statement to the server, which cancels it first', async () => {
    const db = createDb({ url: t.url, poolMax: 1, statementTimeoutMs: 300 });
    opened.push(db);
    await expect(sql`SELECT pg_sleep(2)`.execute(db)).rejects.toThrow(/statement timeout/);
    expect((await sql<{ n: number }>`SELECT 1 AS n`.execute(db)).rows[0]?.n).toBe(1);
  });
});
