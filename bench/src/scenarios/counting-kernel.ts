import { createHash } from 'node:crypto';
import { countLetters, DEFAULT_COUNT_KERNEL, LetterCounter } from '@scanner/core';
import {
  makeTile,
  referenceCounts,
  sameCounts,
  sampleBuffer,
  scaleCounts,
  tiledBuffer,
} from '../fixtures.js';
import {
  bestOf,
  gbPerSecond,
  MiB,
  round,
  type Scenario,
  scenarioResult,
  sizeFromEnv,
} from '../harness.js';

/**
 * The counting kernels on one in-memory buffer against SHA-256 over the same buffer: every
 * uploaded byte is hashed anyway, so hashing speed is the natural yardstick for counting.
 */
export const countingKernel: Scenario = {
  name: 'counting-kernel',
  async run({ runs }) {
    const bytes = sizeFromEnv('KERNEL', 512);
    const tile = makeTile();
    const buffer = tiledBuffer(tile, bytes);
    const expected = scaleCounts(referenceCounts(tile), bytes / tile.length);

    const sample = sampleBuffer(16 * MiB);
    const sampleExpected = referenceCounts(sample);
    const sampleOk = (['js', 'wasm'] as const).every((kernel) =>
      sameCounts(countLetters(sample, { kernel }), sampleExpected),
    );

    const t = await bestOf(runs, {
      sha256: () => createHash('sha256').update(buffer).digest('hex'),
      js: () => countLetters(buffer, { kernel: 'js' }),
      wasm: () => countLetters(buffer, { kernel: 'wasm' }),
      letterCounter: () => new LetterCounter().update(buffer).counts(),
    });
    const verified =
      sampleOk &&
      sameCounts(t.js.result, expected) &&
      sameCounts(t.wasm.result, expected) &&
      sameCounts(t.letterCounter.result, expected);

    return scenarioResult({
      scenario: 'counting-kernel',
      figures: {
        mib: bytes / MiB,
        runs,
        js_gbps: gbPerSecond(bytes, t.js.seconds),
        wasm_gbps: gbPerSecond(bytes, t.wasm.seconds),
        letter_counter_gbps: gbPerSecond(bytes, t.letterCounter.seconds),
        letter_counter_kernel: DEFAULT_COUNT_KERNEL,
        js_ratio: round(t.sha256.seconds / t.js.seconds),
        wasm_ratio: round(t.sha256.seconds / t.wasm.seconds),
        stretch_target: 0.9,
      },
      ceiling: { sha256_gbps: gbPerSecond(bytes, t.sha256.seconds) },
      ratio: t.sha256.seconds / t.letterCounter.seconds,
      target: 0.65,
      verified,
    });
  },
};
