import { findJob } from '@scanner/db';
import { createTestDatabase, type TestDatabase } from '@scanner/db/testing';
import { Registry } from '@scanner/http-kit';
import { cacheFinishedJob, createRedis } from '@scanner/redis';
import { createTestRedis, type TestRedis } from '@scanner/redis/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DAY_MS,
  fileRow,
  insertJob,
  metricValue,
  mountTmpfs,
  resetState,
  seedContent,
  silentLog,
  type TmpfsVolume,
  testJanitor,
  testSettings,
} from '../test/support.js';
import { createJanitor } from './janitor.js';

let t: TestDatabase;
let r: TestRedis;
let volume: TmpfsVolume;

beforeAll(async () => {
  [t, r, volume] = await Promise.all([createTestDatabase(), createTestRedis(), mountTmpfs(8)]);
});
afterAll(async () => {
  await Promise.allSettled([t?.drop(), r?.cleanup(), volume?.unmount()]);
});
beforeEach(async () => {
  await resetState(t.db, volume.root);
});

/** A content with `expired` jobs past expires_at and `live` ones, every one with a cached status. */
async function seedJobs(expired: number, live: number) {
  const sha256 = await seedContent(t.db, volume.root, 'completed', DAY_MS);
  const make = async (expiresAt: Date) => {
    const jobId = await insertJob(t.db, { sha256, status: 'completed', expiresAt });
    await cacheFinishedJob(r.redis, r.keys, jobId, JSON.stringify({ job_id: jobId }), 3600);
    return jobId;
  };
  const expiredIds: string[] = [];
  const liveIds: string[] = [];
  for (let i = 0; i < expired; i++)
    expiredIds.push(await make(new Date(Date.now() - 1000 * (i + 1))));
  for (let i = 0; i < live; i++) liveIds.push(await make(new Date(Date.now() + DAY_MS)));
  return { sha256, expiredIds, liveIds };
}

describe('job expiry', () => {
  it('deletes expired jobs in batches with their cached status; they then answer 404', async () => {
    const { sha256, expiredIds, liveIds } = await seedJobs(5, 2);
    const { janitor, registry } = testJanitor(t.db, r, testSettings(volume.root, { batchSize: 2 }));

    const report = await janitor.runPass({ trigger: 'admin' });

    expect(report.jobsExpired).toBe(5);
    for (const id of expiredIds) {
      expect(await findJob(t.db, id)).toBeUndefined();
      expect(await r.redis.exists(r.keys.jobStatus(id))).toBe(0);
    }
    for (const id of liveIds) {
      expect(await findJob(t.db, id)).toBeDefined();
      expect(await r.redis.exists(r.keys.jobStatus(id))).toBe(1);
    }
    const remaining = await t.db.selectFrom('jobs').select('job_id').execute();
    // The live ones, plus the job seedContent recorded with the content.
    expect(remaining.map((j) => j.job_id)).toEqual(expect.arrayContaining(liveIds));
    expect(remaining).toHaveLength(liveIds.length + 1);
    // The content and its results stay: only the uploads' records expire.
    expect((await fileRow(t.db, sha256)).results).not.toBeNull();
    expect(await metricValue(registry, 'scanner_janitor_jobs_expired_total')).toBe(5);
  });

  it('still expires jobs while Redis is unreachable', async () => {
    const { expiredIds } = await seedJobs(3, 0);
    const offline = createRedis({ url: 'redis://127.0.0.1:1' });
    const janitor = createJanitor({
      db: t.db,
      redis: offline,
      keys: r.keys,
      log: silentLog,
      registry: new Registry(),
      settings: testSettings(volume.root),
      intervalMs: 60_000,
    });
    const report = await janitor.runPass({ trigger: 'admin' });
    expect(report.outcome).toBe('completed');
    expect(report.jobsExpired).toBe(3);
    for (const id of expiredIds) expect(await findJob(t.db, id)).toBeUndefined();
  });

  it('a dry run counts expired jobs and deletes none', async () => {
    const { expiredIds } = await seedJobs(3, 1);
    const { janitor } = testJanitor(t.db, r, testSettings(volume.root));
    const report = await janitor.runPass({ trigger: 'admin', dryRun: true });
    expect(report.jobsExpired).toBe(3);
    const left = await t.db
      .selectFrom('jobs')
      .select('job_id')
      .where('job_id', 'in', expiredIds)
      .execute();
    expect(left).toHaveLength(3);
    expect(await r.redis.exists(r.keys.jobStatus(expiredIds[0] as string))).toBe(1);
  });
});
