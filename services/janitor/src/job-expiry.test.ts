import { findJob } from '@scanner/db';
import { Registry } from '@scanner/http-kit';
import { cacheFinishedJob, createRedis } from '@scanner/redis';
import { describe, expect, it } from 'vitest';
import {
  DAY_MS,
  fileRow,
  insertJob,
  metricValue,
  seedContent,
  silentLog,
  testJanitor,
  testSettings,
  useJanitorFixture,
} from '../test/support.js';
import { createJanitor } from './janitor.js';

const fx = useJanitorFixture({ resetEachTest: true });

/** A content with `expired` jobs past expires_at and `live` ones, every one with a cached status. */
async function seedJobs(expired: number, live: number) {
  const sha256 = await seedContent(fx.t.db, fx.volume.root, 'completed', DAY_MS);
  const make = async (expiresAt: Date) => {
    const jobId = await insertJob(fx.t.db, { sha256, status: 'completed', expiresAt });
    await cacheFinishedJob(fx.r.redis, fx.r.keys, jobId, JSON.stringify({ job_id: jobId }), 3600);
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
    const { janitor, registry } = testJanitor(
      fx.t.db,
      fx.r,
      testSettings(fx.volume.root, { batchSize: 2 }),
    );

    const report = await janitor.runPass({ trigger: 'admin' });

    expect(report.jobsExpired).toBe(5);
    for (const id of expiredIds) {
      expect(await findJob(fx.t.db, id)).toBeUndefined();
      expect(await fx.r.redis.exists(fx.r.keys.jobStatus(id))).toBe(0);
    }
    for (const id of liveIds) {
      expect(await findJob(fx.t.db, id)).toBeDefined();
      expect(await fx.r.redis.exists(fx.r.keys.jobStatus(id))).toBe(1);
    }
    const remaining = await fx.t.db.selectFrom('jobs').select('job_id').execute();
    // The live ones, plus the job seedContent recorded with the content.
    expect(remaining.map((j) => j.job_id)).toEqual(expect.arrayContaining(liveIds));
    expect(remaining).toHaveLength(liveIds.length + 1);
    // The content and its results stay: only the uploads' records expire.
    expect((await fileRow(fx.t.db, sha256)).results).not.toBeNull();
    expect(await metricValue(registry, 'scanner_janitor_jobs_expired_total')).toBe(5);
  });

  it('still expires jobs while Redis is unreachable', async () => {
    const { expiredIds } = await seedJobs(3, 0);
    const offline = createRedis({ url: 'redis://127.0.0.1:1' });
    const janitor = createJanitor({
      db: fx.t.db,
      redis: offline,
      keys: fx.r.keys,
      log: silentLog,
      registry: new Registry(),
      settings: testSettings(fx.volume.root),
      intervalMs: 60_000,
    });
    const report = await janitor.runPass({ trigger: 'admin' });
    expect(report.outcome).toBe('completed');
    expect(report.jobsExpired).toBe(3);
    for (const id of expiredIds) expect(await findJob(fx.t.db, id)).toBeUndefined();
  });

  it('a dry run counts expired jobs and deletes none', async () => {
    const { expiredIds } = await seedJobs(3, 1);
    const { janitor } = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root));
    const report = await janitor.runPass({ trigger: 'admin', dryRun: true });
    expect(report.jobsExpired).toBe(3);
    const left = await fx.t.db
      .selectFrom('jobs')
      .select('job_id')
      .where('job_id', 'in', expiredIds)
      .execute();
    expect(left).toHaveLength(3);
    expect(await fx.r.redis.exists(fx.r.keys.jobStatus(expiredIds[0] as string))).toBe(1);
  });
});
