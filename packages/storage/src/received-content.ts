import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  contentPath,
  type Digest,
  HashingMeter,
  type Sha256Hex,
  SizeLimitExceededError,
  tempDir,
} from '@scanner/core';
import {
  placeContent,
  placeContentSync,
  removeQuietly,
  removeQuietlySync,
} from './place-content.js';

/**
 * An upload's bytes, hashed, held until the caller knows whether they are needed: a small body in
 * memory (a duplicate then never touches the disk), anything larger in a temp file on the volume.
 */
export type ReceivedContent = Digest &
  ({ kind: 'memory'; bytes: Buffer } | { kind: 'file'; path: string });

export interface ReceiveOptions {
  limitBytes?: number;
  /** Bodies up to this size stay in memory; 0 writes every body to a temp file. */
  memoryBytes?: number;
  signal?: AbortSignal;
}

// How much of a large body may wait for the disk before the client is paused. With the default
// 16 KiB every 64 KiB socket read paused the body until its write finished; with room for a few
// reads, receiving, hashing and writing overlap, and queued chunks go out in one writev.
const WRITE_BUFFER_BYTES = 1024 * 1024;

// Temp names: a random prefix per process (replicas share the volume) and a counter, so a name
// costs no random bytes per upload. `wx` still refuses to reuse an existing name.
const tempPrefix = randomBytes(8).toString('hex');
let tempCounter = 0;

function newTempPath(root: string): string {
  return join(tempDir(root), `${tempPrefix}-${(tempCounter++).toString(36)}.part`);
}

/**
 * Reads `source` to its end while hashing it, in one pass, enforcing the size limit as bytes
 * arrive. On any failure (limit, abort, source or disk error) nothing is left behind.
 *
 * A body within `memoryBytes` is collected by a plain 'data' listener: for the small uploads that
 * dominate, a stream pipeline (a Transform, a Writable, an AbortController and the DOMException it
 * creates on every finish) costs more CPU than the bytes. A body that outgrows it continues, with
 * the hash carried over, through a pipeline into a temp file.
 */
export function receiveContent(
  source: Readable,
  root: string,
  opts: ReceiveOptions = {},
): Promise<ReceivedContent> {
  const limitBytes = opts.limitBytes ?? Number.POSITIVE_INFINITY;
  const memoryBytes = opts.memoryBytes ?? 0;
  if (memoryBytes <= 0)
    return receiveIntoFile(source, root, opts, new HashingMeter(limitBytes), []);
  const { signal } = opts;
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    const detach = () => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const onError = (err: Error) => {
      detach();
      reject(err);
    };
    const onClose = () => onError(new Error('the body ended before it was complete'));
    const onAbort = () => {
      detach();
      source.destroy();
      reject(signal?.reason);
    };
    const onEnd = () => {
      detach();
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      resolve({ kind: 'memory', bytes, sha256: hash.digest('hex') as Sha256Hex, sizeBytes: size });
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limitBytes) {
        detach();
        source.destroy();
        reject(new SizeLimitExceededError(limitBytes));
        return;
      }
      hash.update(chunk);
      chunks.push(chunk);
      if (size <= memoryBytes) return;
      // Too big to hold: pause before this handler returns (no chunk may slip past), then let a
      // pipeline carry on into a temp file, with what was read so far written first.
      source.pause();
      detach();
      const meter = new HashingMeter(limitBytes, { hash, sizeBytes: size });
      receiveIntoFile(source, root, opts, meter, chunks).then(resolve, reject);
    };
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    source.on('error', onError);
    source.on('close', onClose);
    source.on('end', onEnd);
    source.on('data', onData);
  });
}

/** Streams the rest of `source` through `meter` into a new temp file, after `head`. */
async function receiveIntoFile(
  source: Readable,
  root: string,
  opts: ReceiveOptions,
  meter: HashingMeter,
  head: Buffer[],
): Promise<ReceivedContent> {
  const path = newTempPath(root);
  let file: WriteStream | undefined;
  try {
    file = createWriteStream(path, { flags: 'wx', highWaterMark: WRITE_BUFFER_BYTES });
    for (const chunk of head) file.write(chunk);
    await pipeline(source, meter, file, opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    // A failure can come before the file is even open (the limit crossed by the first chunks):
    // removing it then would run before the open creates it, and leave it behind.
    if (file && !file.closed) await once(file, 'close').catch(() => {});
    await removeQuietly(path);
    throw err;
  }
  return { kind: 'file', path, ...meter.digest };
}

/**
 * Puts received content at its content address (atomically: a temp file renamed into place, so
 * readers see no file or the whole one). Returns the stored path.
 *
 * Content held in memory (at most the receiver's `memoryBytes`, 64 KiB in the gateway) is written
 * synchronously: open, write, close and rename of a small file take microseconds together, while
 * going through libuv's thread pool made them four hand-offs to a pool thread and back, the
 * largest single cost of storing a small upload on a busy machine. The scanner-worker reads small
 * files the same way.
 */
export async function storeContent(content: ReceivedContent, root: string): Promise<string> {
  if (content.kind === 'file') return placeContent(content.path, root, content.sha256);
  // Checked before anything is written: a bad address leaves nothing behind.
  contentPath(root, content.sha256);
  const temp = newTempPath(root);
  try {
    writeFileSync(temp, content.bytes, { flag: 'wx' });
    return placeContentSync(temp, root, content.sha256);
  } catch (err) {
    removeQuietlySync(temp);
    throw err;
  }
}

/** Drops content that was not needed (or not stored); a stored file is left where it is. */
export async function discardContent(content: ReceivedContent): Promise<void> {
  if (content.kind === 'file') await removeQuietly(content.path);
}
