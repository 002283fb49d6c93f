import { createTestDatabase, type TestDatabase } from '@scanner/db/testing';
import { createTestRedis, type TestRedis } from '@scanner/redis/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  mountTmpfs,
  seedContent,
  type TmpfsVolume,
  testJanitor,
  testSettings,
} from '../test/support.js';

let t: TestDatabase;
let r: TestRedis;
let volume: TmpfsVolume;

beforeAll(async () => {
  [t, r, volume] = await Promise.all([createTestDatabase(), createTestRedis(), mountTmpfs(8)]);
});
afterAll(async () => {
  await Promise.allSettled([t?.drop(), r?.cleanup(), volume?.unmount()]);
});

describe('recovery of scans the queue lost', () => {
  it('publishes pending content that is missing from the stream, once, and never in a dry run', async () => {
    const sha256 = await seedContent(t.db, volume.root, 'pending', 0);
    await t.db
      .updateTable('files')
      .set({ published_at: null })
      .where('sha256', '=', sha256)
      .execute();
    const { janitor } = testJanitor(
      t.db,
      r,
      testSettings(volume.root, { recovery: { republishAfterMs: 60_000, staleAfterMs: 30_000 } }),
    );

    const dry = await janitor.runPass({ trigger: 'admin', dryRun: true });
    expect(dry.scansRepublished).toBe(0);
    expect(await r.redis.exists(r.keys.scanStream)).toBe(0);

    const report = await janitor.runPass({ trigger: 'admin' });
    expect(report.scansRepublished).toBe(1);
    const entries = await r.redis.xRange(r.keys.scanStream, '-', '+');
    expect(entries.map((e) => e.message.sha256)).toEqual([sha256]);
    // Its entry is in the stream now and it was just published: nothing to do next time.
    expect((await janitor.runPass({ trigger: 'admin' })).scansRepublished).toBe(0);
    const groups = await r.redis.xInfoGroups(r.keys.scanStream);
    expect(groups.map((g) => g.name)).toEqual([r.keys.scanGroup]);
  });
});
