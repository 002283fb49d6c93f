/** The 26 letters the service counts, in result order. */
// biome-ignore format: two rows read better than 26 lines
export const LETTERS = [
  'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M',
  'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
] as const;

export type Letter = (typeof LETTERS)[number];
export type LetterCounts = Record<Letter, number>;

export function zeroCounts(): LetterCounts {
  return Object.fromEntries(LETTERS.map((l) => [l, 0])) as LetterCounts;
}

/** True when `value` is an object with exactly the 26 letters as non-negative integer counts. */
export function isLetterCounts(value: unknown): value is LetterCounts {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (Object.keys(record).length !== LETTERS.length) return false;
  return LETTERS.every((l) => Number.isSafeInteger(record[l]) && (record[l] as number) >= 0);
}
