import type { Logger } from '@scanner/logging';
import express, { type Express } from 'express';
import { type Lifecycle, mountProbes, type ReadinessCheck } from './health.js';
import { httpMetrics, mountMetrics, type Registry } from './metrics.js';
import { type ErrorClassifier, notFoundHandler, problemHandler } from './problem.js';
import { requestContext } from './request-context.js';

export interface ServiceAppOptions {
  log: Logger;
  registry: Registry;
  lifecycle: Lifecycle;
  checkReady: ReadinessCheck;
  classifyError?: ErrorClassifier;
}

/**
 * The shell every service's app shares, in the order that matters: request id and metrics first
 * (so every answer has both), probes and /metrics, the service's own routes, then a problem+json
 * 404 and the one error handler last.
 */
export function createServiceApp(
  options: ServiceAppOptions,
  mountRoutes: (app: Express) => void,
): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(options.log));
  app.use(httpMetrics(options.registry));
  mountProbes(app, options.lifecycle, options.checkReady);
  mountMetrics(app, options.registry);
  mountRoutes(app);
  app.use(notFoundHandler);
  app.use(problemHandler(options.classifyError));
  return app;
}
