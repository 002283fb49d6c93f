import { LETTERS, type LetterCounts } from './letters.js';

// Counting is a byte histogram folded to 26 letters at the end: the hot loop does no branching and
// no case folding. Each of the four bytes of a 32-bit word goes to its own table so consecutive
// increments never hit the same memory slot back to back (that store-to-load dependency is what
// makes a single-table histogram slow).
const TABLES = 4;
// Uint32 cells overflow after 2^32 increments; flush well before a single table could get there.
const FLUSH_EVERY_WORDS = 2 ** 30;

/**
 * Incremental A–Z counter over raw bytes. `A`–`Z` and `a`–`z` count (folded to upper case); every
 * other byte, including each byte of a multi-byte UTF-8 sequence, counts nothing.
 */
export class LetterCounter {
  readonly #tables = new Uint32Array(256 * TABLES);
  readonly #totals = new Float64Array(256);
  #wordsSinceFlush = 0;

  update(chunk: Uint8Array): this {
    const t = this.#tables;
    const len = chunk.byteLength;
    let i = 0;
    // Bytes before the first 4-byte-aligned address cannot be read through a Uint32Array view.
    const head = Math.min(len, (4 - (chunk.byteOffset & 3)) & 3);
    for (; i < head; i++) t[chunk[i] as number]!++;
    const words = (len - i) >>> 2;
    if (words > 0) {
      const view = new Uint32Array(chunk.buffer, chunk.byteOffset + i, words);
      let w = 0;
      while (w < words) {
        const start = w;
        const end = Math.min(words, w + FLUSH_EVERY_WORDS - this.#wordsSinceFlush);
        for (; w < end; w++) {
          const v = view[w] as number;
          t[v & 0xff]!++;
          t[256 + ((v >>> 8) & 0xff)]!++;
          t[512 + ((v >>> 16) & 0xff)]!++;
          t[768 + (v >>> 24)]!++;
        }
        this.#wordsSinceFlush += end - start;
        if (this.#wordsSinceFlush >= FLUSH_EVERY_WORDS) this.#flush();
      }
      i += words << 2;
    }
    for (; i < len; i++) t[chunk[i] as number]!++;
    // Head and tail bytes land in table 0 too; count them as a word each so the flush bound holds
    // even for a stream of tiny chunks.
    this.#wordsSinceFlush += 2;
    if (this.#wordsSinceFlush >= FLUSH_EVERY_WORDS) this.#flush();
    return this;
  }

  /** Counts so far; the counter can keep going afterwards. */
  counts(): LetterCounts {
    this.#flush();
    const totals = this.#totals;
    const out = {} as LetterCounts;
    for (let k = 0; k < 26; k++) {
      out[LETTERS[k] as (typeof LETTERS)[number]] = (totals[65 + k] as number) + (totals[97 + k] as number);
    }
    return out;
  }

  #flush(): void {
    const t = this.#tables;
    const totals = this.#totals;
    for (let b = 0; b < 256; b++) {
      totals[b] = (totals[b] as number) + (t[b] as number) + (t[256 + b] as number) + (t[512 + b] as number) + (t[768 + b] as number);
    }
    t.fill(0);
    this.#wordsSinceFlush = 0;
  }
}

/** Counts the letters of one complete buffer. */
export function countLetters(bytes: Uint8Array): LetterCounts {
  return new LetterCounter().update(bytes).counts();
}
