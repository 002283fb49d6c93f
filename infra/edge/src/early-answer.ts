import type { IncomingMessage, ServerResponse } from 'node:http';

// Bounds on discarding the rest of a body after an answer that came before it was read (413, 400,
// a Repr-Digest hit, the edge's own 404): long enough for a client to read the answer, short
// enough to be no sink. nginx's lingering close does the same.
export const LINGER_MS = 5_000;
export const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * Call right before an answer's headers are written. If the client is still sending its body, the
 * connection must outlive the answer: a socket closed with unread data makes the kernel send RST,
 * and the client, still writing, sees EPIPE/ECONNRESET instead of the answer. So:
 * - the answer never says `Connection: close` (node would close the socket as soon as it is
 *   written); a client that asked for `close` gets its connection closed once its body is drained;
 * - after the answer, the rest of the body is read and dropped within LINGER_MS / LINGER_BYTES,
 *   then the connection is kept (keep-alive) or closed.
 *
 * Returns the value for the answer's `Connection` header. An answer the edge writes itself must
 * start reading the body (`req.resume()`) before answering, or node drops it unseen and unbounded.
 */
export function lingerIfUnread(req: IncomingMessage, res: ServerResponse): 'keep-alive' | 'close' {
  if (req.complete || req.destroyed) return res.shouldKeepAlive ? 'keep-alive' : 'close';
  const closeAfter = !res.shouldKeepAlive;
  res.shouldKeepAlive = true;
  res.once('finish', () => drainRest(req, closeAfter));
  return 'keep-alive';
}

function drainRest(req: IncomingMessage, closeAfter: boolean): void {
  const socket = req.socket;
  if (req.complete) {
    if (closeAfter) socket.end();
    return;
  }
  if (req.destroyed) return;
  let seen = 0;
  const stop = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(stop, LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > LINGER_BYTES) stop();
  });
  req.once('end', () => {
    clearTimeout(timer);
    if (closeAfter) socket.end();
  });
  req.once('close', () => clearTimeout(timer));
  // The proxy may have been feeding the body upstream: stop that, read on here.
  req.unpipe();
  req.resume();
}
