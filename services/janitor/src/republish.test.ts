import { describe, expect, it } from 'vitest';
import { seedContent, testJanitor, testSettings, useJanitorFixture } from '../test/support.js';

const fx = useJanitorFixture();

describe('recovery of scans the queue lost', () => {
  it('publishes pending content that is missing from the stream, once, and never in a dry run', async () => {
    const sha256 = await seedContent(fx.t.db, fx.volume.root, 'pending', 0);
    await fx.t.db
      .updateTable('files')
      .set({ published_at: null })
      .where('sha256', '=', sha256)
      .execute();
    const { janitor } = testJanitor(
      fx.t.db,
      fx.r,
      testSettings(fx.volume.root, {
        recovery: { republishAfterMs: 60_000, staleAfterMs: 30_000 },
      }),
    );

    const dry = await janitor.runPass({ trigger: 'admin', dryRun: true });
    expect(dry.scansRepublished).toBe(0);
    expect(await fx.r.redis.exists(fx.r.keys.scanStream)).toBe(0);

    const report = await janitor.runPass({ trigger: 'admin' });
    expect(report.scansRepublished).toBe(1);
    const entries = await fx.r.redis.xRange(fx.r.keys.scanStream, '-', '+');
    expect(entries.map((e) => e.message.sha256)).toEqual([sha256]);
    // Its entry is in the stream now and it was just published: nothing to do next time.
    expect((await janitor.runPass({ trigger: 'admin' })).scansRepublished).toBe(0);
    const groups = await fx.r.redis.xInfoGroups(fx.r.keys.scanStream);
    expect(groups.map((g) => g.name)).toEqual([fx.r.keys.scanGroup]);
  });
});
