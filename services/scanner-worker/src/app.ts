import type { Db } from '@scanner/db';
import { createServiceApp, type Registry } from '@scanner/http-kit';
import type { Logger } from '@scanner/logging';
import type { Redis } from '@scanner/redis';
import { databaseReachable, redisReachable } from '@scanner/runtime';
import type { Express } from 'express';

export interface WorkerAppDeps {
  db: Db;
  redis: Redis;
  log: Logger;
  registry: Registry;
  lifecycle: { shuttingDown: boolean };
  consumerRunning: () => boolean;
}

/** The worker's only HTTP surface: probes and metrics. */
export function createApp(deps: WorkerAppDeps): Express {
  const checkReady = async () => {
    const [database, redis] = await Promise.all([
      databaseReachable(deps.db),
      redisReachable(deps.redis),
    ]);
    return { database, redis, consumer: deps.consumerRunning() };
  };
  return createServiceApp({ ...deps, checkReady }, () => {});
}
