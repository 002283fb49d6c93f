import { randomUUID } from 'node:crypto';
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

/** Gives every request an id (echoed in X-Request-Id) and a child logger carrying it. */
export function requestContext(log: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    req.id = incoming && ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
    req.log = log.child({ requestId: req.id });
    res.setHeader('X-Request-Id', req.id);
    next();
  };
}
