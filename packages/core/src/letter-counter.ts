import { type CountKernel, type KernelName, MAX_BYTES_PER_KERNEL_CALL } from './count-kernel.js';
import { countWithJs } from './count-kernel-js.js';
import { countWithWasm, wasmUnavailable } from './count-kernel-wasm.js';
import { LETTERS, type LetterCounts } from './letters.js';

export type { KernelName } from './count-kernel.js';

/** The kernel a LetterCounter uses unless told otherwise: WebAssembly wherever the runtime has it. */
export const DEFAULT_COUNT_KERNEL: KernelName = wasmUnavailable ? 'js' : 'wasm';

export interface LetterCounterOptions {
  kernel?: KernelName;
  /**
   * Kernels count into 32-bit cells and fold them into exact totals after each call; the counter
   * splits larger chunks so no call exceeds this many bytes. The default is the most that can never
   * wrap a cell; lower it only to exercise the splitting in tests.
   */
  foldEveryBytes?: number;
}

function kernelNamed(name: KernelName): CountKernel {
  switch (name) {
    case 'js':
      return countWithJs;
    case 'wasm':
      if (wasmUnavailable) {
        throw new Error('the wasm letter kernel is unavailable', { cause: wasmUnavailable });
      }
      return countWithWasm;
    default:
      // Callers in plain JavaScript can pass anything.
      throw new TypeError(`unknown letter kernel ${JSON.stringify(name)}`);
  }
}

/**
 * Incremental A–Z counter over raw bytes. `A`–`Z` and `a`–`z` count (folded to upper case); every
 * other byte, including each byte of a multi-byte UTF-8 sequence, counts nothing. Exact for any
 * amount of input: totals are doubles, exact to 2^53.
 */
export class LetterCounter {
  readonly kernel: KernelName;
  readonly #count: CountKernel;
  readonly #foldEveryBytes: number;
  readonly #totals = new Float64Array(26);

  constructor(options: LetterCounterOptions = {}) {
    this.kernel = options.kernel ?? DEFAULT_COUNT_KERNEL;
    this.#count = kernelNamed(this.kernel);
    const foldEveryBytes = options.foldEveryBytes ?? MAX_BYTES_PER_KERNEL_CALL;
    if (
      !Number.isInteger(foldEveryBytes) ||
      foldEveryBytes < 1 ||
      foldEveryBytes > MAX_BYTES_PER_KERNEL_CALL
    ) {
      throw new RangeError(
        `foldEveryBytes must be an integer from 1 to ${MAX_BYTES_PER_KERNEL_CALL}`,
      );
    }
    this.#foldEveryBytes = foldEveryBytes;
  }

  update(chunk: Uint8Array): this {
    const step = this.#foldEveryBytes;
    if (chunk.byteLength <= step) {
      this.#count(chunk, this.#totals);
    } else {
      for (let offset = 0; offset < chunk.byteLength; offset += step) {
        this.#count(chunk.subarray(offset, offset + step), this.#totals);
      }
    }
    return this;
  }

  /** Counts so far; the counter can keep going afterwards. */
  counts(): LetterCounts {
    const out = {} as LetterCounts;
    LETTERS.forEach((letter, k) => {
      out[letter] = this.#totals[k] as number;
    });
    return out;
  }
}

/** Counts the letters of one complete buffer. */
export function countLetters(bytes: Uint8Array, options?: LetterCounterOptions): LetterCounts {
  return new LetterCounter(options).update(bytes).counts();
}
