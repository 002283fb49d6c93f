import type { Db } from '@scanner/db';
import { createServiceApp, type Registry } from '@scanner/http-kit';
import type { Logger } from '@scanner/logging';
import { classifyDependencyError, databaseReachable } from '@scanner/runtime';
import type { Express } from 'express';
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
  // Redis is optional for the janitor (only expired jobs' cache entries need it): not a readiness gate.
  const checkReady = async () => ({ database: await databaseReachable(deps.db) });
  return createServiceApp(
    { ...deps, checkReady, classifyError: classifyDependencyError },
    (app) => {
      if (deps.adminToken !== null) {
        app.use(adminRoutes({ janitor: deps.janitor, adminToken: deps.adminToken }));
      }
    },
  );
}
