import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('npm start', () => {
  it('says exactly what to run and exits non-zero when Postgres and Redis are unreachable', () => {
    const res = spawnSync(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/scanner',
        REDIS_URL: 'redis://127.0.0.1:2/0',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('PostgreSQL is not reachable at 127.0.0.1:1');
    expect(res.stderr).toContain('pg_ctlcluster --skip-systemctl-redirect');
    expect(res.stderr).toContain('Redis is not reachable at 127.0.0.1:2');
    expect(res.stderr).toContain('redis-server --daemonize yes');
  });
});
