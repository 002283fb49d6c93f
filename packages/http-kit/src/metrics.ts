import type { RequestHandler, Router } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/** A registry per service (never the global one, so tests can build many apps in one process). */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // Node's standard process metrics keep their standard names (process_*, nodejs_*) so stock
  // dashboards work; the `service` label tells the services apart.
  collectDefaultMetrics({ register: registry });
  return registry;
}

const durations = new WeakMap<Registry, Histogram<'method' | 'route' | 'status_code'>>();

/**
 * The request duration histogram of a registry, made once: the express middleware and the routes
 * served without express (see withDirectRoutes) record into the same series.
 */
export function requestDurations(
  registry: Registry,
): Histogram<'method' | 'route' | 'status_code'> {
  let histogram = durations.get(registry);
  if (!histogram) {
    histogram = new Histogram({
      name: 'scanner_http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    durations.set(registry, histogram);
  }
  return histogram;
}

/** Request duration by route template (never the raw path: ids would explode cardinality). */
export function httpMetrics(registry: Registry): RequestHandler {
  const duration = requestDurations(registry);
  return (req, res, next) => {
    const end = duration.startTimer();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      end({ method: req.method, route, status_code: String(res.statusCode) });
    });
    next();
  };
}

export function mountMetrics(router: Router, registry: Registry): void {
  router.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
}
