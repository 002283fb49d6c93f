import type { IncomingMessage, ServerResponse } from 'node:http';

// Answers to `Connection: close` requests that are kept open until their body is drained.
const heldOpen = new WeakSet<ServerResponse>();

/** Keeps the connection open past the answer (see drainRest); call before writing the answer. */
export function holdOpen(res: ServerResponse): void {
  if (res.headersSent || res.shouldKeepAlive) return;
  res.shouldKeepAlive = true;
  heldOpen.add(res);
}

// Bounds on reading (and discarding) the rest of a body after an early answer.
const LINGER_MS = 5_000;
const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * After answering before the body is fully read (413, 400, a Repr-Digest hit), the connection must
 * not simply be closed: closing a socket with unread data makes the kernel send RST, and the client
 * (or the edge in front) sees a reset instead of the answer. Discard what is still coming, within a
 * time and byte bound, and only then drop the connection. Must be called before the answer is
 * written: node closes a `Connection: close` request's socket right after the answer, so the
 * connection is kept open here and closed once the body has been drained.
 */
export function drainRest(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || req.destroyed) return;
  holdOpen(res);
  const closeWhenDrained = heldOpen.has(res);
  let seen = 0;
  const stop = () => {
    clearTimeout(timer);
    req.socket.destroy();
  };
  const timer = setTimeout(stop, LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > LINGER_BYTES) stop();
  });
  req.once('end', () => {
    clearTimeout(timer);
    if (closeWhenDrained) req.socket.end();
  });
  req.resume();
}
