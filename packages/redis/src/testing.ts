// Test isolation on the real Redis: every test gets a random key prefix, and cleanup deletes only
// keys under it. Nothing here is used in production.
import { randomBytes } from 'node:crypto';
import { closeRedis, createRedis, type Redis } from './client.js';
import { type RedisKeys, redisKeys } from './keys.js';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export interface TestRedis {
  prefix: string;
  keys: RedisKeys;
  redis: Redis;
  cleanup(): Promise<void>;
}

export async function createTestRedis(): Promise<TestRedis> {
  const prefix = `test:${randomBytes(6).toString('hex')}:`;
  const redis = createRedis({ url: TEST_REDIS_URL });
  await redis.connect();
  return {
    prefix,
    keys: redisKeys(prefix),
    redis,
    async cleanup() {
      const doomed: string[] = [];
      for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 }))
        doomed.push(...batch);
      if (doomed.length > 0) await redis.del(doomed);
      await closeRedis(redis);
    },
  };
}
