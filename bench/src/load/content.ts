// Upload content whose letter counts are known without scanning it: a seeded tile repeated to the
// size wanted, its first STAMP_BYTES bytes overwritten by ASCII digits (a run salt and an index).
// Digits count nothing, so every stamped variant has the same counts and a different SHA-256:
// unique uploads are as cheap to verify as identical ones.
import { createHash } from 'node:crypto';
import type { LetterCounts } from '@scanner/core';
import { makeTile, referenceCounts, scaleCounts } from '../fixtures.js';
import { MiB } from '../harness.js';

export const STAMP_BYTES = 24;

export interface ContentShape {
  /** Content size in bytes: at most 1 MiB, or a whole number of MiB. */
  bytes: number;
  /** 12 digits that make this run's content differ from every other run's. */
  salt: string;
}

const tiles = new Map<number, Buffer>();

/** The repeating unit of content of this size (seeded, so the same on every run and machine). */
export function contentTile(bytes: number): Buffer {
  const length = Math.min(bytes, MiB);
  if (bytes % length !== 0) throw new Error('content size must be at most 1 MiB or whole MiB');
  let tile = tiles.get(length);
  if (!tile) {
    tile = makeTile(length, 7);
    tiles.set(length, tile);
  }
  return tile;
}

/** A fresh 12-digit salt. */
export function newSalt(): string {
  return String(Math.floor(Math.random() * 1e12)).padStart(12, '0');
}

export function stamp(salt: string, index: number): Buffer {
  if (!/^\d{12}$/.test(salt)) throw new Error('salt must be 12 digits');
  return Buffer.from(`${salt}${String(index).padStart(12, '0')}`, 'latin1');
}

/** The letter counts of every stamped content of this size. */
export function expectedCounts(bytes: number): LetterCounts {
  const tile = contentTile(bytes);
  const whole = scaleCounts(referenceCounts(tile), bytes / tile.length);
  const stamped = referenceCounts(tile.subarray(0, STAMP_BYTES));
  for (const letter of Object.keys(whole) as Array<keyof LetterCounts>)
    whole[letter] -= stamped[letter];
  return whole;
}

/** Content `index` of a run, in memory (for sizes that fit comfortably). */
export function contentBuffer(shape: ContentShape, index: number): Buffer {
  const tile = contentTile(shape.bytes);
  const buffer = Buffer.allocUnsafe(shape.bytes);
  for (let at = 0; at < shape.bytes; at += tile.length) tile.copy(buffer, at);
  stamp(shape.salt, index).copy(buffer, 0);
  return buffer;
}

/** Content `index` of a run as chunks, never all in memory: the stamped tile, then the tile. */
export function* contentChunks(shape: ContentShape, index: number): Generator<Buffer> {
  const tile = contentTile(shape.bytes);
  const first = Buffer.from(tile);
  stamp(shape.salt, index).copy(first, 0);
  yield first;
  for (let at = tile.length; at < shape.bytes; at += tile.length) yield tile;
}

export function sha256Hex(chunks: Iterable<Buffer>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

/** `Repr-Digest` (RFC 9530) of content with this SHA-256. */
export function reprDigest(sha256: string): string {
  return `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`;
}

export const BOUNDARY = '----scanner-bench-7d1f0c2b9a';
export const MULTIPART_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

/** The multipart framing around one `file` part. */
export function multipartFrame(filename: string): { head: Buffer; tail: Buffer } {
  return {
    head: Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    tail: Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  };
}
