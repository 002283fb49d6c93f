import type { Db } from '@scanner/db';
import {
  httpMetrics,
  mountMetrics,
  mountProbes,
  notFoundHandler,
  problemHandler,
  type Registry,
  requestContext,
} from '@scanner/http-kit';
import type { Logger } from '@scanner/logging';
import type { Redis } from '@scanner/redis';
import { databaseReachable, redisReachable } from '@scanner/runtime';
import express, { type Express } from 'express';

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
  const app = express();
  app.disable('x-powered-by');
  app.use(requestContext(deps.log));
  app.use(httpMetrics(deps.registry));
  mountProbes(app, deps.lifecycle, async () => {
    const [database, redis] = await Promise.all([
      databaseReachable(deps.db),
      redisReachable(deps.redis),
    ]);
    return { database, redis, consumer: deps.consumerRunning() };
  });
  mountMetrics(app, deps.registry);
  app.use(notFoundHandler);
  app.use(problemHandler());
  return app;
}
