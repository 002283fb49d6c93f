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
import { classifyDependencyError, databaseReachable } from '@scanner/runtime';
import express, { type Express } from 'express';
import { adminRoutes } from './admin-routes.js';
import type { Janitor } from './janitor.js';

export interface JanitorAppDeps {
  db: Db;
  log: Logger;
  registry: Registry;
  lifecycle: { shuttingDown: boolean };
  janitor: Pick<Janitor, 'runPass'>;
  /** Null turns the admin endpoint off: it then answers 404 like any unknown route. */
  adminToken: string | null;
}

/** Builds the app from injected clients; never listens (main.ts and tests do). */
export function createApp(deps: JanitorAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(deps.log));
  app.use(httpMetrics(deps.registry));
  // Redis is optional for the janitor (only expired jobs' cache entries need it): not a readiness gate.
  mountProbes(app, deps.lifecycle, async () => ({ database: await databaseReachable(deps.db) }));
  mountMetrics(app, deps.registry);
  if (deps.adminToken !== null)
    app.use(adminRoutes({ janitor: deps.janitor, adminToken: deps.adminToken }));
  app.use(notFoundHandler);
  app.use(problemHandler(classifyDependencyError));
  return app;
}
