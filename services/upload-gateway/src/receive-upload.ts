import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { type Sha256Hex, SizeLimitExceededError } from '@scanner/core';
import { HttpError } from '@scanner/http-kit';
import { discardContent, type ReceivedContent, receiveContent } from '@scanner/storage';
import busboy from 'busboy';
import { cleanFilename } from './filename.js';
import { parsePlainFilePart } from './plain-multipart.js';

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
const missingFilename = () =>
  new HttpError(400, 'missing-filename', 'Bad Request', 'the file part needs a non-empty filename');
const uploadTimeout = (ms: number) =>
  new HttpError(408, 'upload-timeout', 'Request Timeout', `no data received for ${ms} ms`);
const clientAborted = () =>
  new HttpError(400, 'client-aborted', 'Bad Request', 'the client closed the connection');

/**
 * Reads the single `file` part of a multipart/form-data request while hashing it: into memory when
 * small, else into a temp file on the volume. Whatever goes wrong (bad multipart, limits, timeout,
 * client gone) the temp file is removed and nothing else is left behind; the caller only ever sees
 * completely received content.
 *
 * A body announced within `memoryBytes` is read whole first (with `beforeContent`, only one that
 * comes whole in its first read) and, in the plain form clients send, taken apart in one pass (see
 * plain-multipart.ts); any other body goes through busboy.
 */
export function receiveUpload(req: IncomingMessage, opts: ReceiveOptions): Promise<ReceivedUpload> {
  const announced = Number(req.headers['content-length']);
  return announced <= opts.memoryBytes
    ? receiveSmallUpload(req, announced, opts)
    : receiveWithBusboy(req, opts, undefined);
}

async function receiveSmallUpload(
  req: IncomingMessage,
  announced: number,
  opts: ReceiveOptions,
): Promise<ReceivedUpload> {
  // With a question to ask before the content (a Repr-Digest), a body that did not come whole in
  // its first read goes to busboy as it arrives, so the answer still precedes the rest of it: a
  // client may hold the content back until it has heard.
  const { body, complete } = await readSmallBody(req, announced, opts);
  if (!complete) return receiveWithBusboy(req, opts, { head: body, rest: true });
  const part = parsePlainFilePart(body, req.headers['content-type'] ?? '');
  if (!part) return receiveWithBusboy(req, opts, { head: body, rest: false });
  const filename = cleanFilename(part.filename);
  if (filename === null) throw missingFilename();
  // In the order busboy's path takes: an answer from the filename comes before the content counts.
  if (opts.beforeContent && (await opts.beforeContent(filename))) return { kind: 'answered' };
  const bytes = part.content;
  if (bytes.byteLength > opts.maxBytes) throw tooLarge(opts.maxBytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex') as Sha256Hex;
  return {
    kind: 'received',
    filename,
    content: { kind: 'memory', bytes, sha256, sizeBytes: bytes.byteLength },
  };
}

/**
 * The request's (announced small) body, watching the idle timeout and the client's going away. With
 * `beforeContent` it stops after a first read that is not the whole body, the request paused, and
 * says so (`complete` false).
 */
function readSmallBody(
  req: IncomingMessage,
  announced: number,
  opts: ReceiveOptions,
): Promise<{ body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (err: HttpError | undefined, complete = true) => {
      clearTimeout(idleTimer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (err) return reject(err);
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      resolve({ body, complete });
    };
    const idleTimer = setTimeout(
      () => settle(uploadTimeout(opts.idleTimeoutMs)),
      opts.idleTimeoutMs,
    );
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
      idleTimer.refresh();
      if (opts.beforeContent && chunks.length === 1 && size < announced) {
        // Removing the listener does not stop a flowing stream: nothing may slip past busboy.
        req.pause();
        settle(undefined, false);
      }
    };
    const onEnd = () => settle(undefined);
    const onClose = () => settle(clientAborted());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

/**
 * busboy's reading of the request: from the request itself, or from a `head` already read from it
 * and then (`rest`) whatever more it brings. The idle timeout and the client's going away are
 * watched on the request either way.
 */
function receiveWithBusboy(
  req: IncomingMessage,
  opts: ReceiveOptions,
  before: { head: Buffer; rest: boolean } | undefined,
): Promise<ReceivedUpload> {
  let source: Readable = req;
  if (before) {
    const joined = new PassThrough();
    joined.write(before.head);
    if (before.rest) req.pipe(joined);
    else joined.end();
    source = joined;
  }
  return new Promise((resolve, reject) => {
    // Handed over by the small-body reader, the request may have closed in between.
    if (req.destroyed && !req.complete) {
      reject(clientAborted());
      return;
    }
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
      source.unpipe(parser);
      if (source !== req) req.unpipe();
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

    const idleTimer = setTimeout(() => fail(uploadTimeout(opts.idleTimeoutMs)), opts.idleTimeoutMs);
    const onData = () => idleTimer.refresh();
    req.on('data', onData);
    // The client went away before sending everything: there is nobody to answer, only cleanup.
    req.once('close', () => {
      if (!req.complete) fail(clientAborted());
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
        fail(missingFilename());
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
    source.pipe(parser);
  });
}
