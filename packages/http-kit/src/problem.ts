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
  res
    .status(err.status)
    .type('application/problem+json')
    .send(
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

/** Turns a known infrastructure failure (e.g. the database being down) into an HTTP answer. */
export type ErrorClassifier = (err: unknown) => HttpError | undefined;

/**
 * Maps anything thrown to a problem response. Client errors are answered as they are; anything
 * else is logged with its stack and answered with a generic 500 that reveals nothing.
 */
export function problemHandler(classify: ErrorClassifier = () => undefined): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
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
  };
}
