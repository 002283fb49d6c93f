import { join } from 'node:path';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A lowercase hex SHA-256 digest: the only thing that ever becomes part of a storage path. */
export type Sha256Hex = string & { readonly __brand: 'Sha256Hex' };

export function isSha256Hex(value: unknown): value is Sha256Hex {
  return typeof value === 'string' && SHA256_HEX.test(value);
}

export function toSha256Hex(value: string): Sha256Hex {
  if (!isSha256Hex(value)) throw new TypeError('not a lowercase hex SHA-256 digest');
  return value;
}

/** `{root}/{h[0:2]}/{h[2:4]}/{h}`: two fan-out levels keep directories small. */
export function contentPath(root: string, sha256: string): string {
  const h = toSha256Hex(sha256);
  return join(root, h.slice(0, 2), h.slice(2, 4), h);
}

/** Where uploads stream before they are renamed into place; on the same volume so rename is atomic. */
export function tempDir(root: string): string {
  return join(root, '.tmp');
}

/** Inverse of contentPath for a path relative to the root; null for anything else. */
export function sha256FromRelativePath(relative: string): Sha256Hex | null {
  const parts = relative.split(/[\\/]/);
  if (parts.length !== 3) return null;
  const [a, b, h] = parts as [string, string, string];
  if (!isSha256Hex(h) || h.slice(0, 2) !== a || h.slice(2, 4) !== b) return null;
  return h;
}
