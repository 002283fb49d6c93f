import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { LetterCounter, scanFile } from '@scanner/core';
import {
  makeTile,
  referenceCounts,
  sameCounts,
  scaleCounts,
  tiledBuffer,
  warmPageCache,
  writeTiledFile,
} from '../fixtures.js';
import {
  bestOf,
  gbPerSecond,
  MiB,
  round,
  type Scenario,
  scenarioResult,
  sizeFromEnv,
  withTempDir,
} from '../harness.js';

/**
 * What a worker does with a stored file, `scanFile` on a file in the page cache, against the same
 * work on a buffer already in memory: the gap is what reading the file costs.
 */
export const workerScan: Scenario = {
  name: 'worker-scan',
  async run(context) {
    const bytes = sizeFromEnv('SCAN', 1024);
    const tile = makeTile();
    const buffer = tiledBuffer(tile, bytes);
    const expected = scaleCounts(referenceCounts(tile), bytes / tile.length);

    return withTempDir(context, async (dir) => {
      const path = join(dir, 'content');
      const sha256 = await writeTiledFile(path, tile, bytes);
      await warmPageCache(path);

      const t = await bestOf(context.runs, {
        kernel: () => new LetterCounter().update(buffer).counts(),
        kernelThenSha256: () => {
          const counts = new LetterCounter().update(buffer).counts();
          return { counts, sha256: createHash('sha256').update(buffer).digest('hex') };
        },
        scanVerifyOff: () => scanFile(path, { verify: false }),
        scanVerifyOn: () => scanFile(path, { verify: true }),
      });
      const off = t.scanVerifyOff.result;
      const on = t.scanVerifyOn.result;
      const verified =
        sameCounts(t.kernel.result, expected) &&
        sameCounts(t.kernelThenSha256.result.counts, expected) &&
        t.kernelThenSha256.result.sha256 === sha256 &&
        sameCounts(off.counts, expected) &&
        off.sizeBytes === bytes &&
        off.sha256 === null &&
        sameCounts(on.counts, expected) &&
        on.sizeBytes === bytes &&
        on.sha256 === sha256;

      const offRatio = t.kernel.seconds / t.scanVerifyOff.seconds;
      const onRatio = t.kernelThenSha256.seconds / t.scanVerifyOn.seconds;
      return scenarioResult({
        scenario: 'worker-scan',
        figures: {
          mib: bytes / MiB,
          runs: context.runs,
          scan_verify_off_gbps: gbPerSecond(bytes, t.scanVerifyOff.seconds),
          scan_verify_on_gbps: gbPerSecond(bytes, t.scanVerifyOn.seconds),
          verify_off_ratio: round(offRatio),
          verify_on_ratio: round(onRatio),
        },
        ceiling: {
          kernel_gbps: gbPerSecond(bytes, t.kernel.seconds),
          kernel_then_sha256_gbps: gbPerSecond(bytes, t.kernelThenSha256.seconds),
        },
        // The weaker of the two paths decides.
        ratio: Math.min(offRatio, onRatio),
        target: 0.8,
        verified,
      });
    });
  },
};
