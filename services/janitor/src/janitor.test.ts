import { waitFor } from '@scanner/testing';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  blobExists,
  DAY_MS,
  gate,
  metricValue,
  seedContent,
  testJanitor,
  testSettings,
  useJanitorFixture,
} from '../test/support.js';

const fx = useJanitorFixture();

describe('periodic loop', () => {
  it('runs a pass at start and then every interval', async () => {
    const sha = await seedContent(fx.t.db, fx.volume.root, 'completed', 30 * DAY_MS);
    const { janitor, registry } = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root), 50);
    janitor.start();
    try {
      await waitFor(async () => !(await blobExists(fx.volume.root, sha)), {
        message: 'the first pass',
      });
      await waitFor(
        async () =>
          ((await metricValue(registry, 'scanner_janitor_passes_total', {
            outcome: 'completed',
          })) ?? 0) >= 3,
        { message: 'three passes' },
      );
    } finally {
      await janitor.stop();
    }
    await expect(janitor.runPass({ trigger: 'admin' })).rejects.toMatchObject({ status: 503 });
  });

  it('stop() waits for the pass in flight', async () => {
    const { janitor } = testJanitor(fx.t.db, fx.r, testSettings(fx.volume.root), 60_000);
    const release = gate();
    const locked = gate();
    const blocker = fx.t.db.transaction().execute(async (trx) => {
      await sql`lock table jobs in access exclusive mode`.execute(trx);
      locked.open();
      await release.opened;
    });
    await locked.opened;
    const pass = janitor.runPass({ trigger: 'schedule' });
    await waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(fx.t.db);
        return (rows[0]?.n ?? 0) > 0;
      },
      { message: 'the pass to wait on the jobs table' },
    );
    let stopped = false;
    const stopping = janitor.stop().then(() => {
      stopped = true;
    });
    // A round trip to Postgres: time enough for stop() to resolve if it did not wait.
    await sql`select 1`.execute(fx.t.db);
    expect(stopped).toBe(false);
    release.open();
    await blocker;
    await stopping;
    expect(stopped).toBe(true);
    // It was asked to stop, so it ended at its next safe point.
    expect((await pass).outcome).toBe('interrupted');
  });
});
