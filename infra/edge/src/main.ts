import { pino } from 'pino';
import { createEdge } from './edge.js';

const env = process.env;
const port = Number(env.PORT ?? 8000);
const host = env.HOST ?? '0.0.0.0';
// warn by default: a line per request would cost more CPU than the proxying itself;
// EDGE_LOG_LEVEL=info adds start and stop lines, debug nothing more.
const logger = pino({ level: env.EDGE_LOG_LEVEL ?? 'warn', base: { service: 'edge' } });

const edge = createEdge({
  logger,
  upstreams: {
    gateway: env.UPLOAD_GATEWAY_URL ?? 'http://127.0.0.1:8001',
    status: env.STATUS_QUERY_URL ?? 'http://127.0.0.1:8002',
    janitor: env.JANITOR_URL ?? 'http://127.0.0.1:8004',
  },
});

edge.server.once('error', (err) => {
  logger.fatal({ err }, 'edge cannot listen');
  process.exit(1);
});
edge.server.listen(port, host, () => logger.info({ port, host }, 'edge listening'));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'edge closing');
    void edge.close().finally(() => process.exit(0));
  });
}
