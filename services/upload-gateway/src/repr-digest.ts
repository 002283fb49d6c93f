import { HttpError } from '@scanner/http-kit';

/**
 * Reads the SHA-256 from an RFC 9530 `Repr-Digest` header (a structured-field dictionary such as
 * `sha-256=:<base64>:, sha-512=:…:`). Returns the lowercase hex digest, null when the header is
 * absent or names no sha-256; a malformed sha-256 member is a client error.
 */
export function parseReprDigest(header: string | undefined): string | null {
  if (!header) return null;
  for (const member of header.split(',')) {
    const eq = member.indexOf('=');
    if (eq < 0) continue;
    const key = member.slice(0, eq).trim().toLowerCase();
    if (key !== 'sha-256') continue;
    const value = member.slice(eq + 1).trim();
    const match = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(value);
    const bytes = match ? Buffer.from(match[1] as string, 'base64') : null;
    if (bytes?.length !== 32) {
      throw new HttpError(
        400,
        'invalid-repr-digest',
        'Bad Request',
        'Repr-Digest sha-256 must be 32 bytes in base64 between colons, e.g. sha-256=:…=:',
      );
    }
    return bytes.toString('hex');
  }
  return null;
}
