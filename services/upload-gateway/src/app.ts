import type { TierPolicy } from '@scanner/core';
import type { Db } from '@scanner/db';
import { createServiceApp, type Registry } from '@scanner/http-kit';
import type { Logger } from '@scanner/logging';
import type { Redis, RedisKeys } from '@scanner/redis';
import { classifyDependencyError, databaseReachable } from '@scanner/runtime';
import type { Express } from 'express';
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

/** Builds the app from injected clients; never listens (main.ts and tests do). */
export function createApp(deps: UploadGatewayDeps): Express {
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
  return createServiceApp(
    { ...deps, checkReady, classifyError: classifyDependencyError },
    (app) => {
      const writes = groupedUploadWrites(deps.db);
      const cacheReads = groupedCacheReads(deps.redis, deps.keys, (err) =>
        deps.log.debug({ err }, 'results cache read failed'),
      );
      app.post('/api/v1/files', uploadRoute({ ...deps, guard, metrics, writes, cacheReads }));
    },
  );
}
