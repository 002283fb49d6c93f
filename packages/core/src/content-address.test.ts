import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  contentPath,
  isSha256Hex,
  sha256FromRelativePath,
  tempDir,
  toSha256Hex,
} from './content-address.js';

const H = createHash('sha256').update('hello').digest('hex');

const NOT_DIGESTS = [
  '',
  H.toUpperCase(),
  `${H.slice(0, 63)}A`,
  H.slice(0, 63),
  `${H}0`,
  `${H.slice(0, 63)}g`,
  ` ${H.slice(1)}`,
  `${H}\n`,
  `../${H.slice(3)}`,
  `${H.slice(0, 30)}/../${H.slice(34)}`,
  '../../../../../../../etc/passwd',
  `..${'/..'.repeat(20)}`,
];

describe('isSha256Hex / toSha256Hex', () => {
  it('accepts 64 lowercase hex characters', () => {
    expect(isSha256Hex(H)).toBe(true);
    expect(isSha256Hex('0'.repeat(64))).toBe(true);
    expect(toSha256Hex(H)).toBe(H);
  });

  it('rejects uppercase, short, long, non-hex and path-like strings', () => {
    for (const value of NOT_DIGESTS) {
      expect(isSha256Hex(value), JSON.stringify(value)).toBe(false);
      expect(() => toSha256Hex(value), JSON.stringify(value)).toThrow(TypeError);
    }
  });

  it('rejects what is not a string', () => {
    for (const value of [null, undefined, 42, { toString: () => H }, [H]]) {
      expect(isSha256Hex(value)).toBe(false);
    }
  });
});

describe('contentPath', () => {
  it('fans out by the first two pairs of hex digits', () => {
    expect(contentPath('/data', H)).toBe(join('/data', H.slice(0, 2), H.slice(2, 4), H));
  });

  it('never builds a path from anything but a digest', () => {
    for (const value of NOT_DIGESTS) {
      expect(() => contentPath('/data', value), JSON.stringify(value)).toThrow(TypeError);
    }
  });
});

describe('tempDir', () => {
  it('sits inside the storage root, so a rename into place stays on one volume', () => {
    expect(tempDir('/data')).toBe(join('/data', '.tmp'));
  });
});

describe('sha256FromRelativePath', () => {
  it('inverts contentPath', () => {
    expect(sha256FromRelativePath(`${H.slice(0, 2)}/${H.slice(2, 4)}/${H}`)).toBe(H);
    expect(sha256FromRelativePath(`${H.slice(0, 2)}\\${H.slice(2, 4)}\\${H}`)).toBe(H);
  });

  it('returns null for anything else', () => {
    for (const relative of [
      H,
      `${H.slice(0, 2)}/${H}`,
      `${H.slice(2, 4)}/${H.slice(0, 2)}/${H}`,
      `aa/bb/${H}`,
      `${H.slice(0, 2)}/${H.slice(2, 4)}/${H.toUpperCase()}`,
      `/${H.slice(0, 2)}/${H.slice(2, 4)}/${H}`,
      `../${H.slice(0, 2)}/${H.slice(2, 4)}/${H}`,
      `${H.slice(0, 2)}/${H.slice(2, 4)}/${H}/x`,
      `.tmp/upload-123`,
      '',
    ]) {
      expect(sha256FromRelativePath(relative), relative).toBeNull();
    }
  });
});
