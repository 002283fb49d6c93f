import { LETTERS, type LetterCounts, zeroCounts } from '../src/letters.js';

/** The obviously correct counter the fast kernels are checked against. */
export function referenceCounts(bytes: Uint8Array): LetterCounts {
  const counts = zeroCounts();
  for (const byte of bytes) {
    if (byte >= 0x41 && byte <= 0x5a) counts[LETTERS[byte - 0x41] as keyof LetterCounts] += 1;
    if (byte >= 0x61 && byte <= 0x7a) counts[LETTERS[byte - 0x61] as keyof LetterCounts] += 1;
  }
  return counts;
}

/** Mulberry32: tiny, seeded, good enough to make failures reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const TEXT = Buffer.from(
  'Grüße aus Köln, ÄÖÜ ß é — Ｆｕｌｌ. The Quick brown FOX!\r\n0123456789 {}[]@`',
  'utf8',
);

/** Bytes that mix text (ASCII and multi-byte UTF-8) with uniformly random binary runs. */
export function mixedBytes(length: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const out = new Uint8Array(length);
  let i = 0;
  while (i < length) {
    const run = Math.min(length - i, 1 + Math.floor(random() * 200));
    if (random() < 0.5) {
      const from = Math.floor(random() * TEXT.length);
      for (let k = 0; k < run; k++) out[i + k] = TEXT[(from + k) % TEXT.length] as number;
    } else {
      for (let k = 0; k < run; k++) out[i + k] = Math.floor(random() * 256);
    }
    i += run;
  }
  return out;
}

/** Cuts `length` into consecutive [start, end) pieces of random sizes up to `maxChunk`, empty ones included. */
export function randomChunks(
  length: number,
  maxChunk: number,
  random: () => number,
): [number, number][] {
  const pieces: [number, number][] = [];
  let start = 0;
  while (start < length) {
    const end = Math.min(length, start + Math.floor(random() * (maxChunk + 1)));
    pieces.push([start, end]);
    start = end;
  }
  return pieces;
}
