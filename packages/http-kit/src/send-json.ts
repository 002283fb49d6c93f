import type { ServerResponse } from 'node:http';

/**
 * Answers with a JSON body in one write, the way express's `res.status().json()` would (same
 * Content-Type and Content-Length) without its per-call work (charset and ETag handling, header
 * helpers): for the answers sent thousands of times a second, and for problem+json (`type`).
 * Headers set earlier (the request id) are kept.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  type = 'application/json',
): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': `${type}; charset=utf-8`,
    'Content-Length': Buffer.byteLength(json),
  });
  res.end(json);
}
