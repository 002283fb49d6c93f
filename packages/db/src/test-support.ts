// For this package's own test files (not exported): each file gets a database of its own.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import type { Db } from './db.js';
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

export { holdRowLock } from './testing.js';
