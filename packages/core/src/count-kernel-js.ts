import { type CountKernel, foldLetterCells } from './count-kernel.js';

// Byte k of each 32-bit word goes to table k (and the next word to tables 4–7), so increments that
// follow each other never hit the same cell: with a single table every repeated byte would wait on
// the store of the one before it. Four words per iteration keep the loop overhead out of the way.
const TABLES = 8;

// One scratch histogram for every counter: kernels run synchronously on a single thread and each
// call leaves the tables zeroed.
const cells = new Uint32Array(256 * TABLES);
const EMPTY = new Uint32Array(0);

/** The plain JavaScript kernel: the fallback where WebAssembly is missing, and a reference for it. */
export const countWithJs: CountKernel = (bytes, totals) => {
  const t = cells;
  const len = bytes.byteLength;
  // Bytes before the first 4-byte-aligned address cannot be read through a Uint32Array view.
  const head = Math.min(len, (4 - (bytes.byteOffset & 3)) & 3);
  for (let i = 0; i < head; i++) (t[bytes[i] as number] as number)++;
  const wordCount = (len - head) >>> 2;
  // With no whole word left, `head` may have been cut short by `len` and the offset be unaligned.
  const words =
    wordCount > 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset + head, wordCount) : EMPTY;
  let w = 0;
  for (; w + 4 <= wordCount; w += 4) {
    const a = words[w] as number;
    const b = words[w + 1] as number;
    const c = words[w + 2] as number;
    const d = words[w + 3] as number;
    (t[a & 0xff] as number)++;
    (t[256 + ((a >>> 8) & 0xff)] as number)++;
    (t[512 + ((a >>> 16) & 0xff)] as number)++;
    (t[768 + (a >>> 24)] as number)++;
    (t[1024 + (b & 0xff)] as number)++;
    (t[1280 + ((b >>> 8) & 0xff)] as number)++;
    (t[1536 + ((b >>> 16) & 0xff)] as number)++;
    (t[1792 + (b >>> 24)] as number)++;
    (t[c & 0xff] as number)++;
    (t[256 + ((c >>> 8) & 0xff)] as number)++;
    (t[512 + ((c >>> 16) & 0xff)] as number)++;
    (t[768 + (c >>> 24)] as number)++;
    (t[1024 + (d & 0xff)] as number)++;
    (t[1280 + ((d >>> 8) & 0xff)] as number)++;
    (t[1536 + ((d >>> 16) & 0xff)] as number)++;
    (t[1792 + (d >>> 24)] as number)++;
  }
  for (let i = head + w * 4; i < len; i++) (t[bytes[i] as number] as number)++;
  foldLetterCells(t, TABLES, totals);
};
