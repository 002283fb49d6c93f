import { createDb } from '@scanner/db';
import { closeRedis, createRedis } from '@scanner/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyDependencyError, databaseReachable, redisReachable } from '../src/index.js';
import { createServiceTestContext, type ServiceTestContext } from '../src/testing.js';

let ctx: ServiceTestContext;
beforeAll(async () => {
  ctx = await createServiceTestContext('status-query');
});
afterAll(async () => {
  await ctx?.cleanup();
});

describe('dependency checks', () => {
  it('report reachable dependencies', async () => {
    expect(await databaseReachable(ctx.db)).toBe(true);
    expect(await redisReachable(ctx.redis)).toBe(true);
  });

  it('report unreachable ones without throwing, and classify the database error as a 503', async () => {
    const db = createDb({ url: 'postgresql://postgres@127.0.0.1:1/x', connectionTimeoutMs: 300 });
    const redis = createRedis({ url: 'redis://127.0.0.1:1' });
    try {
      expect(await databaseReachable(db)).toBe(false);
      expect(await redisReachable(redis)).toBe(false);
      const err = await db
        .selectFrom('jobs')
        .selectAll()
        .execute()
        .catch((e: unknown) => e);
      const problem = classifyDependencyError(err);
      expect(problem?.status).toBe(503);
      expect(problem?.headers['Retry-After']).toBe('5');
      expect(classifyDependencyError(new Error('a bug'))).toBeUndefined();
    } finally {
      await db.destroy();
      await closeRedis(redis);
    }
  });

  it('builds config the way production does, isolated per test context', () => {
    expect(ctx.config.redis.keyPrefix).toBe(ctx.prefix);
    expect(ctx.config.storage.rootPath).toBe(ctx.storageRoot);
    expect(ctx.env().DATABASE_URL).toBe(ctx.databaseUrl);
  });
});
