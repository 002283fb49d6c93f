import { type CountKernel, foldLetterCells } from './count-kernel.js';
import { LETTER_HISTOGRAM_WASM_BASE64 } from './letter-histogram-wasm.generated.js';

// Neither the ES libs nor @types/node declare WebAssembly; this is the part of it used here.
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

interface HistogramExports {
  memory: { buffer: ArrayBuffer };
  input_offset: { value: number };
  input_capacity: { value: number };
  histogram: (ptr: number, len: number) => void;
}

// Must match wasm/letter-histogram.wat.
const TABLES = 8;

function compile(): object | Error {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (!api) return new Error('this runtime has no WebAssembly (is node running with --jitless?)');
  try {
    return new api.Module(Buffer.from(LETTER_HISTOGRAM_WASM_BASE64, 'base64'));
  } catch (err) {
    // Kept, not thrown: a broken kernel must not take down every importer of @scanner/core; the
    // counter falls back to the JS kernel and asking for 'wasm' explicitly reports this.
    return new Error('the letter histogram WebAssembly module does not compile', { cause: err });
  }
}

// Compiled synchronously at import so the first count pays nothing; instantiated on first use so
// processes that never count (most of them) never allocate its memory.
const compiled = compile();

/** Why the wasm kernel cannot run here, or null when it can. */
export const wasmUnavailable: Error | null = compiled instanceof Error ? compiled : null;

interface Histogram {
  run: (ptr: number, len: number) => void;
  input: Uint8Array;
  inputOffset: number;
  cells: Uint32Array;
}

let histogram: Histogram | undefined;

function instantiate(): Histogram {
  if (compiled instanceof Error) throw compiled;
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly as WebAssemblyApi;
  const exports = new api.Instance(compiled).exports as unknown as HistogramExports;
  const inputOffset = exports.input_offset.value;
  const { buffer } = exports.memory;
  return {
    run: exports.histogram,
    // The memory has a fixed size (the module declares no growth), so these views never detach.
    input: new Uint8Array(buffer, inputOffset, exports.input_capacity.value),
    inputOffset,
    cells: new Uint32Array(buffer, 0, 256 * TABLES),
  };
}

/**
 * The WebAssembly kernel. Input is copied into the module's memory a block at a time: the copy
 * runs at memory speed and costs far less than what the tighter loop saves. One instance serves
 * every counter on the thread, which is safe because a call runs to completion and leaves the
 * tables zeroed.
 */
export const countWithWasm: CountKernel = (bytes, totals) => {
  histogram ??= instantiate();
  const { run, input, inputOffset, cells } = histogram;
  const capacity = input.byteLength;
  for (let offset = 0; offset < bytes.byteLength; offset += capacity) {
    const block = bytes.subarray(offset, offset + capacity);
    input.set(block);
    run(inputOffset, block.byteLength);
  }
  foldLetterCells(cells, TABLES, totals);
};
