const MAX_FILENAME_CHARS = 255;
// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * The client's filename is data only (it never becomes part of a path): stored trimmed, without
 * control characters, at most 255 characters (code points, so a surrogate pair is never split).
 * Returns null when nothing printable is left.
 */
export function cleanFilename(raw: string): string | null {
  const cleaned = raw.replace(CONTROL, '').trim();
  if (cleaned.length === 0) return null;
  const chars = Array.from(cleaned);
  return chars.length <= MAX_FILENAME_CHARS
    ? cleaned
    : chars.slice(0, MAX_FILENAME_CHARS).join('').trimEnd();
}
