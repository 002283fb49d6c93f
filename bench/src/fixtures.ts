import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { LETTERS, type LetterCounts, zeroCounts } from '@scanner/core';
import { MiB } from './harness.js';

/** The obviously correct counter the kernels are checked against. */
export function referenceCounts(bytes: Uint8Array): LetterCounts {
  const counts = zeroCounts();
  for (const byte of bytes) {
    if (byte >= 0x41 && byte <= 0x5a) counts[LETTERS[byte - 0x41] as keyof LetterCounts] += 1;
    if (byte >= 0x61 && byte <= 0x7a) counts[LETTERS[byte - 0x61] as keyof LetterCounts] += 1;
  }
  return counts;
}

export function sameCounts(a: LetterCounts, b: LetterCounts): boolean {
  return LETTERS.every((letter) => a[letter] === b[letter]);
}

export function scaleCounts(counts: LetterCounts, factor: number): LetterCounts {
  const out = zeroCounts();
  for (const letter of LETTERS) out[letter] = counts[letter] * factor;
  return out;
}

/** Mulberry32: seeded, so every run and every machine benchmarks the same bytes. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const WORDS = [
  'the',
  'Scanner',
  'counts',
  'LETTERS',
  'in',
  'every',
  'uploaded',
  'file',
  'and',
  'Quick',
  'brown',
  'fox',
  'jumps',
  'over',
  'lazy',
  'dog',
  'Grüße',
  'Straße',
  'naïve',
  'café',
  'ＡＢＣ',
  'Ärger',
  'x',
  'Zebra',
  'quartz',
  'JSON',
  'v2.0',
  '42',
  '—',
  'ok!',
  '(sic)',
  'e-mail',
].map((word) => Buffer.from(word, 'utf8'));
const SEPARATORS = [' ', ' ', ' ', ', ', '. ', '\r\n', '\n', '\t'].map((s) => Buffer.from(s));

/**
 * One tile of benchmark content: mostly text (ASCII words of both cases, multi-byte UTF-8 letters,
 * punctuation, CRLF) with a quarter in runs of random binary, like the mix of uploads the service
 * sees. Big buffers repeat one tile, so their exact counts are the tile's times the repeats.
 */
export function makeTile(bytes = MiB, seed = 1): Buffer {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const tile = Buffer.alloc(bytes);
  let at = 0;
  while (at < bytes) {
    if (random() < 0.001) {
      const end = Math.min(bytes, at + 64 + Math.floor(random() * 4096));
      for (; at < end; at++) tile[at] = Math.floor(random() * 256);
    } else {
      at += pick(WORDS).copy(tile, at);
      if (at < bytes) at += pick(SEPARATORS).copy(tile, at);
    }
  }
  return tile;
}

/** `tile` repeated to `bytes` (a multiple of its length). */
export function tiledBuffer(tile: Buffer, bytes: number): Buffer {
  if (bytes % tile.length !== 0) throw new Error('size must be a multiple of the tile');
  const buffer = Buffer.allocUnsafe(bytes);
  for (let at = 0; at < bytes; at += tile.length) buffer.set(tile, at);
  return buffer;
}

/** Writes `tile` repeated to `bytes` without holding it all in memory; returns its SHA-256. */
export async function writeTiledFile(path: string, tile: Buffer, bytes: number): Promise<string> {
  if (bytes % tile.length !== 0) throw new Error('size must be a multiple of the tile');
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    for (let at = 0; at < bytes; at += tile.length) {
      await handle.write(tile, 0, tile.length, at);
      hash.update(tile);
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Reads a file once so that the timed scans read from the page cache, not the disk. */
export async function warmPageCache(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(4 * MiB);
    while ((await handle.read(buffer, 0, buffer.length, null)).bytesRead > 0) {}
  } finally {
    await handle.close();
  }
}

/** Non-repeating seeded content for checking kernels against the reference. */
export function sampleBuffer(bytes: number): Buffer {
  const sample = Buffer.allocUnsafe(bytes);
  for (let at = 0, seed = 100; at < bytes; at += MiB, seed++) {
    makeTile(Math.min(MiB, bytes - at), seed).copy(sample, at);
  }
  return sample;
}
