import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from '@scanner/logging';
import type { Express } from 'express';
import { requestDurations } from './metrics.js';
import { answerError, type ErrorClassifier } from './problem.js';
import { attachRequestContext } from './request-context.js';
import type { ServiceAppOptions } from './service-app.js';

/** A request as a direct route sees it: node's own, with the id and logger every request gets. */
export type DirectRequest = IncomingMessage & { id: string; log: Logger };

/**
 * A route served by node's http server directly rather than through express. For the one or two
 * routes a service answers thousands of times a second: express's request and response setup and
 * its router cost about 0.1 ms of CPU per request here, more than many such requests cost in all.
 * The handler gets what every express route gets (request id, logger, duration metric, problem+json
 * for whatever it throws) and must use node's API only (`req.headers`, `res.writeHead`, sendJson).
 */
export interface DirectRoute {
  method: string;
  /** Matched as express matches a route: case-insensitively, with or without a trailing slash. */
  path: string;
  handle(req: DirectRequest, res: ServerResponse): Promise<void>;
}

function pathOf(url: string): string {
  // An absolute-form request line (`POST http://host/path`, from clients that think they talk to
  // a proxy) routes by its path, as express does.
  if (url[0] !== '/') {
    try {
      return new URL(url).pathname.toLowerCase();
    } catch {
      return url;
    }
  }
  const q = url.indexOf('?');
  return (q === -1 ? url : url.slice(0, q)).toLowerCase();
}

/**
 * The request listener of a service with direct routes: those go straight to their handlers,
 * everything else to the express app built by createServiceApp (probes, metrics, other routes,
 * the 404).
 */
export function withDirectRoutes(
  app: Express,
  options: Pick<ServiceAppOptions, 'log' | 'registry'> & { classifyError?: ErrorClassifier },
  routes: DirectRoute[],
): RequestListener {
  const durations = requestDurations(options.registry);
  const table = new Map<string, DirectRoute>();
  for (const route of routes) {
    const path = route.path.toLowerCase().replace(/\/$/, '');
    table.set(`${route.method} ${path}`, route);
    table.set(`${route.method} ${path}/`, route);
  }
  return (req, res) => {
    const route = table.get(`${req.method} ${pathOf(req.url ?? '/')}`);
    if (!route) {
      app(req, res);
      return;
    }
    attachRequestContext(req, res, options.log);
    const direct = req as DirectRequest;
    const end = durations.startTimer();
    res.once('finish', () =>
      end({ method: route.method, route: route.path, status_code: String(res.statusCode) }),
    );
    route
      .handle(direct, res)
      .catch((err: unknown) => answerError(err, direct, res, options.classifyError));
  };
}
