// Test isolation on the real Postgres: the schema is migrated once into a template database named
// after the migration list, and each test file gets its own copy (CREATE DATABASE … TEMPLATE is a
// file copy, far faster than migrating again). Nothing here is used in production.
import { createHash, randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import pg from 'pg';
import { createDb, type Db } from './db.js';
import { migrateToLatest } from './migrate.js';
import { migrationNames } from './migrations/index.js';
import type { Database } from './schema.js';

const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

function urlFor(database: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const templateName = `scanner_tpl_${createHash('sha256').update(migrationNames.join('\n')).digest('hex').slice(0, 12)}`;

async function ensureTemplate(): Promise<void> {
  await withAdmin(async (admin) => {
    // Many test files start at once, from several vitest processes: one builds, the rest wait.
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [templateName]);
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        templateName,
      ]);
      if (rowCount) return;
      const building = `${templateName}_building`;
      await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${building}`);
      const db = createDb({ url: urlFor(building), poolMax: 1 });
      try {
        await migrateToLatest(db);
      } finally {
        await db.destroy();
      }
      // Renamed only once complete, so a half-migrated template is never copied.
      await admin.query(`ALTER DATABASE ${building} RENAME TO ${templateName}`);
    } finally {
      await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [templateName]);
    }
  });
}

export interface TestDatabase {
  name: string;
  url: string;
  db: Db;
  /** Closes the pool and drops the database, even with connections still open elsewhere. */
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  await ensureTemplate();
  const name = `scanner_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${name} TEMPLATE ${templateName}`));
  const url = urlFor(name);
  // Generous: under a loaded CI machine a burst of concurrent test uploads can queue for the pool.
  const db = createDb({ url, poolMax: 10, connectionTimeoutMs: 15_000 });
  let dropped = false;
  return {
    name,
    url,
    db,
    async drop() {
      if (dropped) return;
      dropped = true;
      await db.destroy().catch(() => {});
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Locks a content row in a transaction of its own, as an upload in progress does, until
 * `release()`; `beforeCommit` then runs in that transaction (an upload adding its job, say).
 * `no key update` is the lock that blocks FOR UPDATE but not an insert referencing the row.
 */
export async function holdRowLock(
  db: Db,
  sha256: string,
  beforeCommit: (trx: Transaction<Database>) => Promise<void> = async () => {},
  strength: 'update' | 'no key update' = 'update',
): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => {
    locked = r;
  });
  const holder = db.transaction().execute(async (trx) => {
    const row = trx.selectFrom('files').select('sha256').where('sha256', '=', sha256);
    await (strength === 'update' ? row.forUpdate() : row.forNoKeyUpdate()).execute();
    locked();
    await released;
    await beforeCommit(trx);
  });
  await isLocked;
  return {
    async release() {
      release();
      await holder;
    },
  };
}
