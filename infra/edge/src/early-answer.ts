import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';

// Bounds on discarding the rest of a body the upstream answered before reading (413, 400, a
// Repr-Digest hit): long enough for a client to read the answer, short enough to be no sink.
const LINGER_MS = 5_000;
const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * When an upstream answers before the whole request body was sent, the proxy client stops sending
 * and destroys the body stream. If that stream were the client's request itself, its socket would
 * be destroyed with unread data, the kernel would send RST, and the client would see a reset
 * instead of the answer. So the proxy gets a PassThrough fed from the request, and after the answer
 * the rest of the body is read and discarded, within bounds, before the connection is dropped.
 */
export function keepClientsAfterEarlyAnswers(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (!hasBody(request.raw)) return payload;
    const pass = new PassThrough();
    payload.pipe(pass);
    // Destroyed by the proxy: stop feeding it, keep the client's stream (and socket) alive.
    pass.once('close', () => payload.unpipe(pass));
    return pass as unknown as typeof payload;
  });
  // Node closes a `Connection: close` request's socket right after the answer, unread body and
  // all: keep it open until the body is drained, then close it as the client asked.
  app.addHook('onSend', async (request, reply) => {
    if (!request.raw.complete && !reply.raw.headersSent && !reply.raw.shouldKeepAlive) {
      reply.raw.shouldKeepAlive = true;
      closeWhenDrained.add(request.raw);
    }
  });
  app.addHook('onResponse', async (request) => {
    drainRest(request.raw, closeWhenDrained.has(request.raw));
  });
}

const closeWhenDrained = new WeakSet<IncomingMessage>();

function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
  );
}

function drainRest(
  req: Readable & { complete?: boolean; socket?: { destroy(): void; end(): void } },
  closeAfter: boolean,
): void {
  if (req.complete || req.destroyed) return;
  let seen = 0;
  const stop = () => {
    clearTimeout(timer);
    req.socket?.destroy();
  };
  const timer = setTimeout(stop, LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > LINGER_BYTES) stop();
  });
  req.once('end', () => {
    clearTimeout(timer);
    if (closeAfter) req.socket?.end();
  });
  req.resume();
}
