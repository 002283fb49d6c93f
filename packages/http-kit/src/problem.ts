import type { ErrorRequestHandler, RequestHandler, Response } from 'express';

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

export function sendProblem(res: Response, err: HttpError): void {
  if (res.headersSent) return;
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).type('application/problem+json').send(
    JSON.stringify({
      type: `${PROBLEM_TYPE_BASE}${err.code}`,
      title: err.title,
      status: err.status,
      detail: err.detail ?? err.title,
      ...(res.req.id ? { request_id: res.req.id } : {}),
    }),
  );
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'not-found', 'Not Found', `no route for ${req.method} ${req.path}`));
};

/**
 * Maps anything thrown to a problem response. Client errors are answered as they are; anything
 * else is logged with its stack and answered with a generic 500 that reveals nothing.
 */
export const problemHandler: ErrorRequestHandler = (err: unknown, req, res, _next) => {
  if (err instanceof HttpError) {
    if (err.status >= 500) req.log?.warn({ err, code: err.code }, err.title);
    sendProblem(res, err);
    return;
  }
  // Errors from body parsers and other express middleware carry a status of their own.
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    sendProblem(res, new HttpError(status, 'bad-request', 'Bad Request', (err as Error).message));
    return;
  }
  req.log?.error({ err }, 'unhandled error');
  sendProblem(res, new HttpError(500, 'internal', 'Internal Server Error', 'the server failed to handle the request'));
};
