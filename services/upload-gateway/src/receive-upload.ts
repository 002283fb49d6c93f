import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { SizeLimitExceededError } from '@scanner/core';
import { HttpError } from '@scanner/http-kit';
import { discardContent, type ReceivedContent, receiveContent } from '@scanner/storage';
import busboy from 'busboy';
import { cleanFilename } from './filename.js';

export interface ReceiveOptions {
  storageRoot: string;
  maxBytes: number;
  /** Bodies up to this size are held in memory rather than written to a temp file. */
  memoryBytes: number;
  /** No bytes from the client for this long cuts the upload off (408). */
  idleTimeoutMs: number;
  /**
   * Called with the filename once the file part's headers arrive, before any of its content is
   * read. Returning true means the request has been answered: the content is never read.
   */
  beforeContent?: (filename: string) => Promise<boolean>;
}

export type ReceivedUpload =
  | { kind: 'received'; filename: string; content: ReceivedContent }
  | { kind: 'answered' };

// Generous for real forms, small enough that header and field floods are refused early.
const LIMITS = { fields: 20, fieldSize: 64 * 1024, parts: 25, headerPairs: 50, files: 1 };

const tooLarge = (maxBytes: number) =>
  new HttpError(
    413,
    'file-too-large',
    'Content Too Large',
    `the file exceeds the limit of ${maxBytes} bytes`,
  );
const badMultipart = (detail: string) =>
  new HttpError(400, 'malformed-multipart', 'Bad Request', detail);

/**
 * Reads the single `file` part of a multipart/form-data request while hashing it: into memory when
 * small, else into a temp file on the volume. Whatever goes wrong (bad multipart, limits, timeout,
 * client gone) the temp file is removed and nothing else is left behind; the caller only ever sees
 * completely received content.
 */
export function receiveUpload(req: IncomingMessage, opts: ReceiveOptions): Promise<ReceivedUpload> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: LIMITS, defParamCharset: 'utf8' });
    } catch (err) {
      reject(badMultipart(err instanceof Error ? err.message : 'unparseable multipart request'));
      return;
    }

    // Set once the file part starts; destroying it is how a failure stops its reading (and makes a
    // temp file being written go away). Cheaper per request than an AbortController.
    let fileStream: Readable | undefined;
    let settled = false;
    let filePart: Promise<ReceivedUpload> | undefined;

    const stopReading = () => {
      req.unpipe(parser);
      req.off('data', onData);
      clearTimeout(idleTimer);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      stopReading();
      fileStream?.destroy();
      // A temp file that finished writing just before the failure must not survive it either.
      filePart
        ?.then((r) => (r.kind === 'received' ? discardContent(r.content) : undefined))
        .catch(() => {});
      reject(err);
    };
    const succeed = (value: ReceivedUpload) => {
      if (settled) {
        if (value.kind === 'received') void discardContent(value.content).catch(() => {});
        return;
      }
      settled = true;
      stopReading();
      resolve(value);
    };

    const idleTimer = setTimeout(() => {
      fail(
        new HttpError(
          408,
          'upload-timeout',
          'Request Timeout',
          `no data received for ${opts.idleTimeoutMs} ms`,
        ),
      );
    }, opts.idleTimeoutMs);
    const onData = () => idleTimer.refresh();
    req.on('data', onData);
    // The client went away before sending everything: there is nobody to answer, only cleanup.
    req.once('close', () => {
      if (!req.complete)
        fail(
          new HttpError(400, 'client-aborted', 'Bad Request', 'the client closed the connection'),
        );
    });

    parser.on('file', (field, stream, info) => {
      if (field !== 'file') {
        stream.resume();
        fail(badMultipart(`unexpected file part "${field}"; send the file in a part named "file"`));
        return;
      }
      const filename = info.filename === undefined ? null : cleanFilename(info.filename);
      if (filename === null) {
        stream.resume();
        fail(
          new HttpError(
            400,
            'missing-filename',
            'Bad Request',
            'the file part needs a non-empty filename',
          ),
        );
        return;
      }
      fileStream = stream;
      filePart = (async (): Promise<ReceivedUpload> => {
        if (opts.beforeContent && (await opts.beforeContent(filename))) {
          stream.resume();
          return { kind: 'answered' };
        }
        // The request failed while the answer was being looked up: nothing more is read.
        if (settled) throw new Error('the upload failed before its content was read');
        const content = await receiveContent(stream, opts.storageRoot, {
          limitBytes: opts.maxBytes,
          memoryBytes: opts.memoryBytes,
        });
        return { kind: 'received', filename, content };
      })();
      filePart.then(
        (r) => {
          // An early answer needs nothing more from the body.
          if (r.kind === 'answered') succeed(r);
        },
        // After a failure (fail() destroyed the stream) this is only that failure's echo: ignored.
        (err: unknown) =>
          fail(err instanceof SizeLimitExceededError ? tooLarge(opts.maxBytes) : err),
      );
    });
    parser.on('field', (name) => {
      if (name === 'file')
        fail(badMultipart('the "file" part must be a file (with a filename), not a plain field'));
    });
    parser.on('filesLimit', () => fail(badMultipart('only one file per request')));
    parser.on('partsLimit', () => fail(badMultipart(`more than ${LIMITS.parts} parts`)));
    parser.on('fieldsLimit', () => fail(badMultipart(`more than ${LIMITS.fields} fields`)));
    parser.on('error', (err: Error) => fail(badMultipart(err.message)));
    parser.on('close', () => {
      if (!filePart) {
        fail(new HttpError(400, 'missing-file', 'Bad Request', 'no "file" part in the form'));
        return;
      }
      filePart.then(succeed, () => {});
    });
    req.pipe(parser);
  });
}
