import type { RequestListener } from 'node:http';
import type { TierPolicy } from '@scanner/core';
import type { Db } from '@scanner/db';
import { createServiceApp, type Registry, withDirectRoutes } from '@scanner/http-kit';
import type { Logger } from '@scanner/logging';
import { type Redis, type RedisKeys, RedisStallGuard } from '@scanner/redis';
import { classifyDependencyError, databaseReachable } from '@scanner/runtime';
import { createGatewayMetrics } from './gateway-metrics.js';
import { StorageGuard } from './storage-guard.js';
import { groupedCacheReads, groupedUploadWrites } from './upload-batching.js';
import { uploadRoute } from './upload-route.js';

export interface UploadGatewayDeps {
  db: Db;
  redis: Redis;
  keys: RedisKeys;
  log: Logger;
  registry: Registry;
  lifecycle: { shuttingDown: boolean };
  storageRoot: string;
  tierPolicy: TierPolicy;
  maxUploadBytes: number;
  uploadTimeoutMs: number;
  jobRetentionMs: number;
  fileCacheTtlSeconds: number;
}

/** Builds the request listener from injected clients; never listens (main.ts and tests do). */
export function createApp(deps: UploadGatewayDeps): RequestListener {
  const guard = new StorageGuard(deps.storageRoot, deps.tierPolicy);
  const metrics = createGatewayMetrics(deps.registry);
  const checkReady = async () => {
    const [database, tier] = await Promise.all([
      databaseReachable(deps.db),
      guard.current().catch(() => null),
    ]);
    // At the emergency tier every upload would be refused: take this replica out of rotation.
    return { database, storage: tier?.acceptsUploads ?? false };
  };
  const options = { ...deps, checkReady, classifyError: classifyDependencyError };
  // Probes and /metrics through express; uploads, thousands a second, straight from node's server.
  const app = createServiceApp(options, () => {});
  const writes = groupedUploadWrites(deps.db);
  const redisCalls = new RedisStallGuard(deps.redis);
  const cacheReads = groupedCacheReads(redisCalls, deps.keys, (err) =>
    deps.log.debug({ err }, 'results cache read failed'),
  );
  return withDirectRoutes(app, options, [
    {
      method: 'POST',
      path: '/api/v1/files',
      handle: uploadRoute({ ...deps, guard, metrics, writes, cacheReads, redisCalls }),
    },
  ]);
}
