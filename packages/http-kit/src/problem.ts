import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@scanner/logging';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { sendJson } from './send-json.js';

/**
 * A failure with an HTTP meaning. Domain code throws these; one error middleware renders them as
 * RFC 9457 problem+json. `code` is the machine-readable reason, also the last segment of `type`.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
    this.name = 'HttpError';
  }
}

export const PROBLEM_TYPE_BASE = 'https://scanner.dev/problems/';

/** Answers with an HttpError as problem+json (node's own API: express's res is not needed). */
export function sendProblem(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) return;
  const requestId = (res.req as { id?: string } | undefined)?.id;
  sendJson(
    res,
    err.status,
    {
      type: `${PROBLEM_TYPE_BASE}${err.code}`,
      title: err.title,
      status: err.status,
      detail: err.detail ?? err.title,
      ...(requestId ? { request_id: requestId } : {}),
    },
    err.headers,
    'application/problem+json',
  );
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'not-found', 'Not Found', `no route for ${req.method} ${req.path}`));
};

/** Turns a known infrastructure failure (e.g. the database being down) into an HTTP answer. */
export type ErrorClassifier = (err: unknown) => HttpError | undefined;

/**
 * Answers anything thrown as a problem response. Client errors are answered as they are; anything
 * else is logged with its stack and answered with a generic 500 that reveals nothing.
 */
export function answerError(
  err: unknown,
  req: IncomingMessage & { log?: Logger },
  res: ServerResponse,
  classify: ErrorClassifier = () => undefined,
): void {
  const known = err instanceof HttpError ? err : classify(err);
  if (known) {
    if (known.status >= 500) req.log?.warn({ err, code: known.code }, known.title);
    sendProblem(res, known);
    return;
  }
  // Errors from express's own middleware (e.g. a malformed URL) carry a status of their own.
  const e = err as { status?: unknown; statusCode?: unknown; message?: unknown };
  const status = typeof e?.status === 'number' ? e.status : e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    sendProblem(res, new HttpError(status, 'bad-request', 'Bad Request', String(e.message)));
    return;
  }
  req.log?.error({ err }, 'unhandled error');
  sendProblem(
    res,
    new HttpError(
      500,
      'internal',
      'Internal Server Error',
      'the server failed to handle the request',
    ),
  );
}

/** `answerError` as express's error middleware. */
export function problemHandler(classify: ErrorClassifier = () => undefined): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => answerError(err, req, res, classify);
}
