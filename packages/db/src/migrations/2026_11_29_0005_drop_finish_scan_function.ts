// Migrations import nothing from the app: they must keep working as the app's types move on.
import { type Kysely, sql } from 'kysely';
import * as finishScanFunction from './2026_11_29_0002_finish_scan_function.js';

// finish_scans (0003) finishes one content as well as many; nothing calls finish_scan any more.

// biome-ignore lint/suspicious/noExplicitAny: migrations run against whatever schema exists then.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION finish_scan(char(64), jsonb, text)`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  await finishScanFunction.up(db);
}
