#!/usr/bin/env node
// `scanner-migrate`: applies pending migrations to DATABASE_URL and exits non-zero on any failure.
// Run once per deployment before the services start (compose's migrate step, k8s Job, npm start).
import { createDb } from './db.js';
import { migrateToLatest } from './migrate.js';

const url = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/scanner';
const db = createDb({ url, poolMax: 1, applicationName: 'scanner-migrate' });
try {
  const results = await migrateToLatest(db);
  for (const r of results) {
    process.stdout.write(`${JSON.stringify({ msg: 'migration', name: r.migrationName, status: r.status })}\n`);
  }
  process.stdout.write(`${JSON.stringify({ msg: 'schema up to date', applied: results.length })}\n`);
} catch (err) {
  process.stderr.write(`${JSON.stringify({ msg: 'migration failed', err: String(err) })}\n`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
