import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Sha256Hex } from './content-address.js';

export class SizeLimitExceededError extends Error {
  constructor(readonly limitBytes: number) {
    super(`content exceeds the limit of ${limitBytes} bytes`);
    this.name = 'SizeLimitExceededError';
  }
}

export interface Digest {
  sha256: Sha256Hex;
  sizeBytes: number;
}

/**
 * A pass-through that hashes and measures what flows through it, so a body can be written to disk
 * and digested in one pass. It fails with SizeLimitExceededError the moment the limit is crossed,
 * before the offending chunk is passed on.
 */
export class HashingMeter extends Transform {
  readonly #hash: Hash;
  readonly #limitBytes: number;
  #size: number;
  #digest: Digest | undefined;

  /** `resume` carries on from bytes already hashed elsewhere (they count towards the limit). */
  constructor(
    limitBytes = Number.POSITIVE_INFINITY,
    resume: { hash: Hash; sizeBytes: number } = { hash: createHash('sha256'), sizeBytes: 0 },
  ) {
    super();
    this.#limitBytes = limitBytes;
    this.#hash = resume.hash;
    this.#size = resume.sizeBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#size += chunk.byteLength;
    if (this.#size > this.#limitBytes) {
      done(new SizeLimitExceededError(this.#limitBytes));
      return;
    }
    this.#hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.#digest = { sha256: this.#hash.digest('hex') as Sha256Hex, sizeBytes: this.#size };
    done();
  }

  /** Available once the stream has ended. */
  get digest(): Digest {
    if (!this.#digest) throw new Error('digest read before the stream ended');
    return this.#digest;
  }

  get bytesSeen(): number {
    return this.#size;
  }
}
