import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const name = `scanner_migrate_${randomBytes(5).toString('hex')}`;
const url = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
})();

function migrate(env: Record<string, string>, args: string[] = []) {
  return spawnSync(
    process.execPath,
    [
      '--conditions=@scanner/source',
      '--import',
      'tsx',
      join(import.meta.dirname, '..', 'src', 'migrate-cli.ts'),
      ...args,
    ],
    {
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
      cwd: join(import.meta.dirname, '..'),
    },
  );
}

afterAll(async () => {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
});

describe('scanner-migrate', () => {
  it('creates the database when asked, migrates, and is a no-op the second time', () => {
    const first = migrate({ DATABASE_URL: url }, ['--create-database']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('"status":"Success"');
    const second = migrate({ DATABASE_URL: url });
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('"applied":0');
  });

  it('exits non-zero when it cannot migrate', () => {
    const res = migrate({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere' });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('migration failed');
  });
});
