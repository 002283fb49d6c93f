#!/usr/bin/env node
// `scanner-migrate`: applies pending migrations to DATABASE_URL and exits non-zero on any failure.
// Run once per deployment before the services start (compose's migrate step, the k8s Job,
// `npm start`). `--create-database` first creates the database itself when it does not exist.
import pg from 'pg';
import { createDb } from './db.js';
import { migrateToLatest } from './migrate.js';

const url = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/scanner';
const log = (fields: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ service: 'migrate', ...fields })}\n`);

async function createDatabaseIfMissing(): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new Error(`unsupported database name "${name}"`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE ${name}`);
      log({ msg: 'database created', database: name });
    }
  } catch (err) {
    // Two starters racing: the other one created it.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await client.end();
  }
}

try {
  if (process.argv.includes('--create-database')) await createDatabaseIfMissing();
  const db = createDb({ url, poolMax: 1, applicationName: 'scanner-migrate' });
  try {
    const results = await migrateToLatest(db);
    for (const r of results) log({ msg: 'migration', name: r.migrationName, status: r.status });
    log({
      msg: 'schema up to date',
      applied: results.filter((r) => r.status === 'Success').length,
    });
  } finally {
    await db.destroy();
  }
} catch (err) {
  process.stderr.write(
    `${JSON.stringify({ service: 'migrate', msg: 'migration failed', err: String(err) })}\n`,
  );
  process.exitCode = 1;
}
