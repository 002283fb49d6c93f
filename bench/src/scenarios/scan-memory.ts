import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeTile, referenceCounts, sameCounts, scaleCounts, writeTiledFile } from '../fixtures.js';
import { MiB, round, type Scenario, scenarioResult, sizeFromEnv, withTempDir } from '../harness.js';
import type { ScanMemoryReport } from './scan-memory-child.js';

const BUDGET_MIB = 32;
const child = fileURLToPath(new URL('./scan-memory-child.js', import.meta.url));

/** Memory must stay flat whatever the file size: RSS growth of one verified scan, in a child. */
export const scanMemory: Scenario = {
  name: 'scan-memory',
  async run(context) {
    const bytes = sizeFromEnv('SCAN', 1024);
    const tile = makeTile();
    const expected = scaleCounts(referenceCounts(tile), bytes / tile.length);

    return withTempDir(context, async (dir) => {
      const path = join(dir, 'content');
      const sha256 = await writeTiledFile(path, tile, bytes);
      const { stdout } = await promisify(execFile)(process.execPath, [child, path], {
        maxBuffer: MiB,
      });
      const report = JSON.parse(stdout) as ScanMemoryReport;
      const growthMiB = (report.peakRssBytes - report.baselineRssBytes) / MiB;
      return scenarioResult({
        scenario: 'scan-memory',
        figures: {
          mib: bytes / MiB,
          rss_baseline_mib: round(report.baselineRssBytes / MiB, 1),
          rss_peak_mib: round(report.peakRssBytes / MiB, 1),
          rss_growth_mib: round(growthMiB, 1),
        },
        ceiling: { rss_growth_budget_mib: BUDGET_MIB },
        ratio: growthMiB / BUDGET_MIB,
        target: 1,
        better: 'lower',
        verified:
          sameCounts(report.scan.counts, expected) &&
          report.scan.sizeBytes === bytes &&
          report.scan.sha256 === sha256,
      });
    });
  },
};
