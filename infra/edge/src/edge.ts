import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer, type ProxyTargetDetailed } from 'httpxy';
import type { Logger } from 'pino';
import { lingerIfUnread } from './early-answer.js';
import { findRoute, type Upstream } from './routes.js';

export interface EdgeOptions {
  upstreams: Record<Upstream, string>;
  logger: Logger;
}

export interface Edge {
  server: Server;
  /** Stops accepting, lets requests in flight finish (at most `graceMs`), drops the pool. */
  close(graceMs?: number): Promise<void>;
}

// Upstream failures that mean "not reachable" (503) rather than "answered badly" (502).
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

/**
 * The edge: a node:http server that routes by EDGE_ROUTES and hands each request to httpxy, which
 * streams bodies both ways (no buffering) over a keep-alive pool per upstream.
 */
export function createEdge({ upstreams, logger }: EdgeOptions): Edge {
  // Plain objects rather than URL instances: httpxy reads a target's fields about fifteen times per
  // request, and each read of a URL's getters was a visible share of the edge's CPU.
  const targets = Object.fromEntries(
    Object.entries(upstreams).map(([name, raw]) => {
      const url = new URL(raw);
      const target: ProxyTargetDetailed = {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port || (url.protocol === 'https:' ? 443 : 80),
        pathname: url.pathname,
      };
      return [name, target];
    }),
  ) as Record<Upstream, ProxyTargetDetailed>;
  // One pool for all upstreams (node keys it by host:port): reused connections, at most 256 each.
  const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
  const proxy = createProxyServer({ agent });
  let closing = false;

  proxy.on('proxyRes', (proxyRes, req, res) => {
    // `Connection` is per hop: the upstream's (e.g. `close` with a 413) concerns the pooled
    // connection, not the client's. Decide the client's here, lingering if its body is unread.
    const connection = lingerIfUnread(req, res);
    delete proxyRes.headers['keep-alive'];
    proxyRes.headers.connection = connection;
    // httpxy answers an HTTP/1.0 client with the request's own Connection header: the same.
    req.headers.connection = connection;
  });

  proxy.on('error', (err: NodeJS.ErrnoException, req, res) => {
    if (!req || !res || !('writeHead' in res)) return;
    // After the answer has gone out (an early answer, then the upstream dropped the rest of the
    // body), there is nothing to tell the client: its answer stands.
    if (res.headersSent) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    const route = findRoute(req.method, pathOf(req.url));
    const down = UNREACHABLE.has(err.code ?? '');
    logger.warn(
      { err: { message: err.message, code: err.code }, request_id: req.headers['x-request-id'] },
      'upstream failed',
    );
    problem(
      req,
      res,
      down ? 503 : 502,
      down ? 'Service Unavailable' : 'Bad Gateway',
      down
        ? `the ${route?.upstream ?? 'upstream'} service is not reachable`
        : 'the upstream service failed',
    );
  });

  const server = createServer(
    // fastify's defaults, which this edge had before: no limit on a whole upload's duration, a
    // keep-alive window longer than the usual client pool's.
    { requestTimeout: 0, keepAliveTimeout: 72_000 },
    (req, res) => {
      // Shutting down: answer what comes, on connections that then close.
      if (closing) res.shouldKeepAlive = false;
      let id = req.headers['x-request-id'];
      if (typeof id !== 'string' || id === '') {
        id = randomUUID();
        req.headers['x-request-id'] = id;
      }
      const path = pathOf(req.url);
      const route = findRoute(req.method, path);
      if (route) {
        // Hop-by-hop: the upstream connection is pooled whatever the client asked for its own,
        // and a 100-continue has already been answered here.
        delete req.headers.connection;
        delete req.headers['keep-alive'];
        delete req.headers.expect;
        proxy.web(req, res, { target: targets[route.upstream] }).catch((err: Error) => {
          // The answer itself failed (the client went away mid-answer): nothing left to tell.
          logger.debug({ err: err.message, request_id: id }, 'answer failed');
          res.destroy();
        });
      } else if (path === '/edge/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        send(req, res, 200, 'application/json', '{"status":"ok"}');
      } else {
        problem(req, res, 404, 'Not Found', `no route for ${req.method} ${path}`);
      }
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, title, detail] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request headers did not arrive in time']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
          : [400, 'Bad Request', 'malformed HTTP request'];
    const body = JSON.stringify(problemBody(status, title, detail));
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  return {
    server,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        closing = true;
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        // Connections turn idle as their last answers go out: close them then, not when the
        // client's keep-alive runs out.
        const sweep = setInterval(() => server.closeIdleConnections(), 100);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          clearInterval(sweep);
          agent.destroy();
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

function pathOf(url = '/'): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function problemBody(status: number, title: string, detail: string) {
  return {
    type: `https://scanner.dev/problems/${title.toLowerCase().replace(/\s+/g, '-')}`,
    title,
    status,
    detail,
  };
}

function problem(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  title: string,
  detail: string,
): void {
  send(
    req,
    res,
    status,
    'application/problem+json',
    JSON.stringify(problemBody(status, title, detail)),
  );
}

/** An answer of the edge's own; a body the client is still sending is read and dropped. */
function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
): void {
  req.resume();
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'x-request-id': req.headers['x-request-id'],
    connection: lingerIfUnread(req, res),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
