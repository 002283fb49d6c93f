/** The two implementations of the counting hot loop. Both give identical counts. */
export type KernelName = 'js' | 'wasm';

/**
 * Adds the A–Z counts of `bytes` to `totals` (26 doubles, A first). Kernels histogram all 256 byte
 * values into 32-bit cells and fold the letters into the totals before returning, so one call may
 * count at most MAX_BYTES_PER_KERNEL_CALL bytes.
 */
export type CountKernel = (bytes: Uint8Array, totals: Float64Array) => void;

/** Below 2^32 increments in one call, not even a cell that every byte lands in can wrap. */
export const MAX_BYTES_PER_KERNEL_CALL = 0xffff_ffff;

/**
 * Adds the letter cells of `tableCount` consecutive 256-cell tables to `totals`, upper and lower
 * case together, then zeroes the tables so the next call starts clean.
 */
export function foldLetterCells(
  cells: Uint32Array,
  tableCount: number,
  totals: Float64Array,
): void {
  const end = tableCount * 256;
  for (let k = 0; k < 26; k++) {
    // Doubles: the cells of one letter across all tables can add up past 2^32.
    let sum = 0;
    for (let t = 0; t < end; t += 256) {
      sum += (cells[t + 65 + k] as number) + (cells[t + 97 + k] as number);
    }
    totals[k] = (totals[k] as number) + sum;
  }
  cells.fill(0, 0, end);
}
