// For this package's own test files (not exported): each file gets a database of its own.
import { createHash, randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { afterAll, beforeAll } from 'vitest';
import type { Db } from './db.js';
import type { Database } from './schema.js';
import { createTestDatabase, type TestDatabase } from './testing.js';

/** Creates this file's database before its tests (handing it to `ready`) and drops it after. */
export function useTestDatabase(ready: (db: Db, t: TestDatabase) => void): void {
  let t: TestDatabase | undefined;
  beforeAll(async () => {
    t = await createTestDatabase();
    ready(t.db, t);
  });
  afterAll(async () => {
    await t?.drop();
  });
}

/** A content address no other test uses; `label` only makes failures easier to read. */
export function uniqueSha(label: string): string {
  return createHash('sha256').update(`${label}-${randomUUID()}`).digest('hex');
}

/**
 * Locks a content row in a transaction of its own, as an upload in progress does, until
 * `release()`; `beforeCommit` then runs in that transaction (an upload adding its job, say).
 */
export async function holdRowLock(
  db: Db,
  sha256: string,
  beforeCommit: (trx: Transaction<Database>) => Promise<void> = async () => {},
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
    await trx
      .selectFrom('files')
      .select('sha256')
      .where('sha256', '=', sha256)
      .forUpdate()
      .execute();
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
