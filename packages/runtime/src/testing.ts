// One call gives a service test everything it needs, isolated: its own database (copied from the
// migrated template), its own Redis key prefix, its own storage folder, a silent logger, and a
// config built from the same loader production uses. Nothing here is used in production.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, loadConfig, type ServiceName } from '@scanner/config';
import type { Db } from '@scanner/db';
import { createTestDatabase } from '@scanner/db/testing';
import { closeServer, createRegistry, listen, type Registry } from '@scanner/http-kit';
import { createLogger, type Logger } from '@scanner/logging';
import type { Redis, RedisKeys } from '@scanner/redis';
import { createTestRedis, TEST_REDIS_URL } from '@scanner/redis/testing';
import { ensureVolumeLayout } from '@scanner/storage';

export interface ServiceTestContext {
  config: Config;
  db: Db;
  databaseUrl: string;
  redis: Redis;
  redisUrl: string;
  keys: RedisKeys;
  prefix: string;
  storageRoot: string;
  log: Logger;
  registry: Registry;
  lifecycle: { shuttingDown: boolean };
  /** The environment a real service process would need to join this context. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export async function createServiceTestContext(
  service: ServiceName,
  overrides: Record<string, string> = {},
  opts: { storageRoot?: string } = {},
): Promise<ServiceTestContext> {
  const [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  const storageRoot = opts.storageRoot ?? (await mkdtemp(join(tmpdir(), 'scanner-test-')));
  await ensureVolumeLayout(storageRoot);
  const baseEnv = {
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redis.prefix,
    FILE_STORAGE_PATH: storageRoot,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    NODE_ENV: 'test',
  };
  const config = loadConfig(service, { ...baseEnv, ...overrides });
  return {
    config,
    db: database.db,
    databaseUrl: database.url,
    redis: redis.redis,
    redisUrl: TEST_REDIS_URL,
    keys: redis.keys,
    prefix: redis.prefix,
    storageRoot,
    log: createLogger({ service, level: config.log.level }),
    registry: createRegistry(service),
    lifecycle: { shuttingDown: false },
    env: (extra = {}) => ({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...baseEnv,
      ...overrides,
      ...extra,
    }),
    async cleanup() {
      await Promise.allSettled([
        database.drop(),
        redis.cleanup(),
        opts.storageRoot ? Promise.resolve() : rm(storageRoot, { recursive: true, force: true }),
      ]);
    },
  };
}

/** Serves a handler on an ephemeral port, as main.ts would; returns its base URL and a closer. */
export async function serveForTest(
  handler: RequestListener,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(handler);
  const port = await listen(server, '127.0.0.1', 0);
  return { url: `http://127.0.0.1:${port}`, server, close: () => closeServer(server) };
}
