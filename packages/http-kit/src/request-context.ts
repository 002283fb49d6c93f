import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@scanner/logging';
import type { RequestHandler } from 'express';

declare global {
  namespace Express {
    interface Request {
      /** X-Request-Id as received (when well-formed) or generated. */
      id: string;
      log: Logger;
    }
  }
}

const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives a request an id (echoed in X-Request-Id) and a child logger carrying it. The child is made
 * on first use: most requests log nothing at the configured level, and making a pino child for
 * each of them was a visible share of a small upload's CPU.
 */
export function attachRequestContext(
  req: IncomingMessage & { id?: string; log?: Logger },
  res: ServerResponse,
  log: Logger,
): void {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
  req.id = id;
  let child: Logger | undefined;
  Object.defineProperty(req, 'log', {
    configurable: true,
    enumerable: true,
    get: () => {
      child ??= log.child({ requestId: id });
      return child;
    },
  });
  res.setHeader('X-Request-Id', id);
}

/** `attachRequestContext` as express middleware. */
export function requestContext(log: Logger): RequestHandler {
  return (req, res, next) => {
    attachRequestContext(req, res, log);
    next();
  };
}
