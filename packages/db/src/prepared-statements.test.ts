import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db, type DbOptions } from './db.js';
import { findJob, recordNewContent } from './jobs.repository.js';
import { preparingClient, StatementNames } from './prepared-statements.js';
import { createTestDatabase, type TestDatabase } from './testing.js';

let t: TestDatabase;
const opened: Db[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  await sql`CREATE TABLE ps_items (id int PRIMARY KEY, label text NOT NULL)`.execute(t.db);
  await sql`INSERT INTO ps_items SELECT i, 'item ' || i FROM generate_series(1, 20) i`.execute(
    t.db,
  );
});
afterAll(async () => {
  await Promise.all(opened.map((db) => db.destroy().catch(() => {})));
  await t?.drop();
});

/** A pool of one connection, so every query and the check after it share a backend. */
function openDb(options: Partial<DbOptions> = {}): Db {
  const db = createDb({ url: t.url, poolMax: 1, ...options });
  opened.push(db);
  return db;
}

interface Prepared {
  name: string;
  statement: string;
  executions: number;
}

/** The statements prepared through the protocol on the (only) connection of `db`. */
async function prepared(db: Db): Promise<Prepared[]> {
  const { rows } = await sql<Prepared>`
    SELECT name, statement, (generic_plans + custom_plans)::int AS executions
    FROM pg_prepared_statements WHERE NOT from_sql ORDER BY prepare_time, name`.execute(db);
  return rows;
}

const SELECT_LABEL = 'SELECT label FROM ps_items WHERE id = $1';

async function label(db: Db, id: number): Promise<string | undefined> {
  const { rows } = await sql<{
    label: string;
  }>`SELECT label FROM ps_items WHERE id = ${id}`.execute(db);
  return rows[0]?.label;
}

describe('StatementNames', () => {
  it('names the first `limit` distinct texts, the same text always alike', () => {
    const names = new StatementNames(2);
    const a = names.nameFor('select $1');
    const b = names.nameFor('select $1, $2');
    expect(a).toMatch(/^s[0-9a-f]{20}$/);
    expect(b).toMatch(/^s[0-9a-f]{20}$/);
    expect(a).not.toBe(b);
    expect(names.nameFor('select $1')).toBe(a);
    expect(names.nameFor('select $1, $2, $3')).toBeUndefined();
    expect(names.nameFor('select $1, $2')).toBe(b);
    expect(names.size).toBe(2);
  });
});

describe('named prepared statements', () => {
  it('runs a parameterized query as a named statement, parsed once per connection', async () => {
    const db = openDb();
    expect(await label(db, 3)).toBe('item 3');
    expect(await label(db, 4)).toBe('item 4');
    expect(await label(db, 99)).toBeUndefined();
    expect(await prepared(db)).toEqual([
      { name: expect.stringMatching(/^s[0-9a-f]{20}$/), statement: SELECT_LABEL, executions: 3 },
    ]);
  });

  it('is used inside transactions, on the transaction connection of a larger pool', async () => {
    const db = createDb({ url: t.url, poolMax: 4 });
    opened.push(db);
    const statements = await db.transaction().execute(async (trx) => {
      expect(await label(trx, 5)).toBe('item 5');
      expect(await label(trx, 6)).toBe('item 6');
      return prepared(trx);
    });
    expect(statements.map((s) => s.executions)).toEqual([2]);
  });

  it("gives the repositories' queries correct results (many at once over a pool)", async () => {
    const db = createDb({ url: t.url, poolMax: 4 });
    opened.push(db);
    const inputs = Array.from({ length: 40 }, (_, i) => ({
      sha256: createHash('sha256').update(randomUUID()).digest('hex'),
      sizeBytes: 1000 + i,
      jobId: randomUUID(),
      originalFilename: `f${i}.txt`,
      requestId: `req-${i}`,
      expiresAt: new Date(Date.now() + 86_400_000),
    }));
    const recorded = await Promise.all(inputs.map((input) => recordNewContent(db, input)));
    const found = await Promise.all(inputs.map((input) => findJob(db, input.jobId)));
    for (const [i, input] of inputs.entries()) {
      expect(recorded[i]).toEqual({
        jobId: input.jobId,
        sha256: input.sha256,
        fileSize: input.sizeBytes,
        results: null,
      });
      expect(found[i]).toMatchObject({ ...recorded[i], originalFilename: input.originalFilename });
    }
    // The same content again: no row (the conflict path), from the same prepared statement.
    const [first] = inputs as [(typeof inputs)[number]];
    expect(await recordNewContent(db, { ...first, jobId: randomUUID() })).toBeUndefined();
  });

  it('leaves statements without parameters alone: multi-statement SQL, transactions', async () => {
    const db = openDb();
    // Several statements in one string: the simple protocol, as before (no parameters).
    await sql`
      CREATE TEMP TABLE ps_multi (n int);
      INSERT INTO ps_multi VALUES (1), (2);`.execute(db);
    const before = await sql<{ n: number }>`SELECT sum(n)::int AS n FROM ps_multi`.execute(db);
    expect(before.rows).toEqual([{ n: 3 }]);
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`INSERT INTO ps_multi VALUES (${10})`.execute(trx);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    const after = await sql<{ n: number }>`SELECT sum(n)::int AS n FROM ps_multi`.execute(db);
    expect(after.rows).toEqual([{ n: 3 }]);
    // Only the one parameterized INSERT was named.
    expect((await prepared(db)).map((s) => s.statement)).toEqual([
      'INSERT INTO ps_multi VALUES ($1)',
    ]);
  });

  it('names only the first maxPreparedStatements texts; the rest run unnamed, correctly', async () => {
    const db = openDb({ maxPreparedStatements: 3 });
    for (let round = 0; round < 2; round++) {
      for (let k = 1; k <= 6; k++) {
        const { rows } = await sql<{ n: number }>`SELECT ${k}::int + ${k * 10}::int AS n, ${sql.raw(
          String(k),
        )} AS k`.execute(db);
        expect(rows).toEqual([{ n: 11 * k, k }]);
      }
    }
    const statements = await prepared(db);
    expect(statements).toHaveLength(3);
    expect(statements.map((s) => s.statement)).toEqual(
      [1, 2, 3].map((k) => `SELECT $1::int + $2::int AS n, ${k} AS k`),
    );
    expect(statements.map((s) => s.executions)).toEqual([2, 2, 2]);
  });

  it('with prepareStatements false, runs everything unnamed', async () => {
    const db = openDb({ prepareStatements: false });
    expect(await label(db, 7)).toBe('item 7');
    expect(await label(db, 8)).toBe('item 8');
    expect(await prepared(db)).toEqual([]);
  });
});

describe('errors', () => {
  it('reports a statement that does not parse, and the connection keeps working', async () => {
    const db = openDb();
    for (let i = 0; i < 2; i++) {
      await expect(sql`SELEC ${1}::int`.execute(db)).rejects.toMatchObject({ code: '42601' });
    }
    expect(await label(db, 9)).toBe('item 9');
    expect((await prepared(db)).map((s) => s.statement)).toEqual([SELECT_LABEL]);
  });

  it('reports bad values (bind and execute errors), and the statement stays usable', async () => {
    const db = openDb();
    const check = (v: string) => sql<{ u: string }>`SELECT ${v}::uuid AS u`.execute(db);
    await expect(check('not-a-uuid')).rejects.toMatchObject({ code: '22P02' });
    const id = randomUUID();
    expect((await check(id)).rows).toEqual([{ u: id }]);
    await expect(check('still-not')).rejects.toMatchObject({ code: '22P02' });
    const insert = (id: number) =>
      sql`INSERT INTO ps_items (id, label) VALUES (${id}, ${'dup'})`.execute(db);
    await expect(insert(1)).rejects.toMatchObject({ code: '23505' });
    // Both statements parsed and kept (a failed bind plans nothing, so is not counted).
    expect(await prepared(db)).toEqual([
      expect.objectContaining({ statement: 'SELECT $1::uuid AS u', executions: 1 }),
      expect.objectContaining({ statement: 'INSERT INTO ps_items (id, label) VALUES ($1, $2)' }),
    ]);
  });

  it('an error inside a transaction rolls it back; the connection and statement still work', async () => {
    const db = openDb();
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`INSERT INTO ps_items (id, label) VALUES (${100}, ${'new'})`.execute(trx);
        await sql`INSERT INTO ps_items (id, label) VALUES (${100}, ${'again'})`.execute(trx);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await label(db, 100)).toBeUndefined();
    await sql`INSERT INTO ps_items (id, label) VALUES (${100}, ${'new'})`.execute(db);
    expect(await label(db, 100)).toBe('new');
  });

  it('survives a schema change under a prepared statement (cached plan must not change result type)', async () => {
    const db = openDb();
    await sql`CREATE TABLE ps_changing (id int PRIMARY KEY)`.execute(db);
    await sql`INSERT INTO ps_changing VALUES (1)`.execute(db);
    const read = (q: Db = db) => sql`SELECT * FROM ps_changing WHERE id = ${1}`.execute(q);
    expect((await read()).rows).toEqual([{ id: 1 }]);

    // Outside a transaction: retried once unnamed, and a fresh name from then on.
    await sql`ALTER TABLE ps_changing ADD COLUMN a int DEFAULT 2`.execute(db);
    expect((await read()).rows).toEqual([{ id: 1, a: 2 }]);
    expect((await read()).rows).toEqual([{ id: 1, a: 2 }]);
    const names = (await prepared(db))
      .filter((s) => s.statement.includes('ps_changing WHERE'))
      .map((s) => s.name);
    expect(names).toHaveLength(2);
    expect(names[1]).toBe(`${names[0]}_1`);

    // Inside a transaction: the caller's error (the transaction is aborted); the next use works.
    await sql`ALTER TABLE ps_changing ADD COLUMN b int DEFAULT 3`.execute(db);
    await expect(db.transaction().execute((trx) => read(trx))).rejects.toMatchObject({
      code: '0A000',
      routine: 'RevalidateCachedQuery',
      message: 'cached plan must not change result type',
    });
    expect((await read()).rows).toEqual([{ id: 1, a: 2, b: 3 }]);
  });

  it('survives its statements being removed on the server (DEALLOCATE ALL)', async () => {
    const db = openDb();
    expect(await label(db, 11)).toBe('item 11');
    await sql`DEALLOCATE ALL`.execute(db);
    expect(await label(db, 12)).toBe('item 12');
    expect(await prepared(db)).toHaveLength(1);

    await sql`DEALLOCATE ALL`.execute(db);
    await expect(db.transaction().execute((trx) => label(trx, 13))).rejects.toMatchObject({
      code: '26000',
    });
    expect(await label(db, 13)).toBe('item 13');
  });
});

describe('the client class on its own', () => {
  it('keeps pg.Pool query (promise and callback) and submittable queries working', async () => {
    const pool = new pg.Pool({
      connectionString: t.url,
      max: 1,
      Client: preparingClient(new StatementNames(10)),
    });
    try {
      const text = 'SELECT $1::int * 2 AS n';
      expect((await pool.query(text, [21])).rows).toEqual([{ n: 42 }]);
      const viaCallback = await new Promise<unknown>((resolve, reject) =>
        pool.query(text, [5], (err, res) => (err ? reject(err) : resolve(res.rows))),
      );
      expect(viaCallback).toEqual([{ n: 10 }]);

      const client = await pool.connect();
      try {
        // A submittable (what kysely's streaming passes, a pg-cursor) goes through untouched.
        const rows: unknown[] = [];
        const query = client.query(
          new pg.Query('SELECT g AS n FROM generate_series(1, $1::int) g', [3]),
        );
        query.on('row', (row) => rows.push(row));
        await new Promise((resolve, reject) => query.on('end', resolve).on('error', reject));
        expect(rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
        expect((await client.query({ text, values: [1] })).rows).toEqual([{ n: 2 }]);
        const named = await client.query(
          'SELECT name, statement FROM pg_prepared_statements ORDER BY statement',
        );
        expect(named.rows.map((r) => r.statement)).toEqual([text]);
      } finally {
        client.release();
      }
      await expect(pool.query('SELEC $1', [1])).rejects.toMatchObject({ code: '42601' });
      expect((await pool.query(text, [4])).rows).toEqual([{ n: 8 }]);
    } finally {
      await pool.end();
    }
  });
});
