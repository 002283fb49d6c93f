import { randomUUID } from 'node:crypto';
import proxy from '@fastify/http-proxy';
import Fastify, { type FastifyReply } from 'fastify';
import { keepClientsAfterEarlyAnswers } from './early-answer.js';
import { EDGE_ROUTES, type Upstream } from './routes.js';

const env = process.env;
const upstreams: Record<Upstream, string> = {
  gateway: env.UPLOAD_GATEWAY_URL ?? 'http://127.0.0.1:8001',
  status: env.STATUS_QUERY_URL ?? 'http://127.0.0.1:8002',
  janitor: env.JANITOR_URL ?? 'http://127.0.0.1:8004',
};
const port = Number(env.PORT ?? 8000);
const host = env.HOST ?? '0.0.0.0';

// Loosely typed: @fastify/reply-from hands error callbacks a reply generic over http2 too.
function problem(reply: { code: unknown }, status: number, title: string, detail: string) {
  return (reply as FastifyReply)
    .code(status)
    .type('application/problem+json')
    .send({
      type: `https://scanner.dev/problems/${title.toLowerCase().replace(/\s+/g, '-')}`,
      title,
      status,
      detail,
    });
}

const app = Fastify({
  // warn by default: the proxy plugin logs every request at info, which costs more CPU than the
  // proxying itself; EDGE_LOG_LEVEL=info brings those lines back.
  logger: { level: env.EDGE_LOG_LEVEL ?? 'warn', base: { service: 'edge' } },
  // The edge never reads bodies: uploads stream through to the gateway, which enforces limits.
  bodyLimit: Number.MAX_SAFE_INTEGER,
  requestIdHeader: 'x-request-id',
  genReqId: () => randomUUID(),
  disableRequestLogging: true,
});

keepClientsAfterEarlyAnswers(app);

for (const route of EDGE_ROUTES) {
  await app.register(proxy, {
    upstream: upstreams[route.upstream],
    prefix: route.prefix,
    rewritePrefix: route.prefix,
    httpMethods: route.methods,
    undici: {
      connections: 256,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: 0,
      bodyTimeout: 0,
    },
    replyOptions: {
      rewriteRequestHeaders: (req, headers) => ({ ...headers, 'x-request-id': String(req.id) }),
      onError: (reply, { error }) => {
        const down = /ECONNREFUSED|ECONNRESET|connect|socket/i.test(
          String(error?.message ?? error),
        );
        void problem(
          reply,
          down ? 503 : 502,
          down ? 'Service Unavailable' : 'Bad Gateway',
          down ? `the ${route.upstream} service is not reachable` : 'the upstream service failed',
        );
      },
    },
  });
}

app.setNotFoundHandler((req, reply) =>
  problem(reply, 404, 'Not Found', `no route for ${req.method} ${req.url.split('?')[0]}`),
);
app.get('/edge/healthz', async () => ({ status: 'ok' }));

await app.listen({ port, host });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().finally(() => process.exit(0));
  });
}
