import type { IncomingMessage } from 'node:http';

// Bounds on reading (and discarding) the rest of a body after an early answer.
const LINGER_MS = 5_000;
const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * After answering before the body is fully read (413, 400, a Repr-Digest hit), the connection must
 * not simply be closed: closing a socket with unread data makes the kernel send RST, and the client
 * (or the edge in front) sees a reset instead of the answer. Discard what is still coming, within a
 * time and byte bound, and only then drop the connection.
 */
export function drainRest(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
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
  req.once('end', () => clearTimeout(timer));
  req.resume();
}
