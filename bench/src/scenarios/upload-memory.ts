import { gbPerSecond, MiB, round, type Scenario, scenarioResult, sizeFromEnv } from '../harness.js';
import { expectedCounts, newSalt } from '../load/content.js';
import { describeFailures, runLoad } from '../load/loadgen.js';
import {
  checkCompleted,
  leftoverTempFiles,
  storedAt,
  waitUntilNoneUnfinished,
} from '../system/checks.js';
import { withSystem } from '../system/kit.js';
import { processMemory } from '../system/stack.js';

const BUDGET_MIB = 32;

/**
 * Memory stays flat whatever the file size: the gateway's RSS growth (from /proc/<pid>/status,
 * sampled every few ms, and its high-water mark) while one 1 GiB upload streams through the edge.
 * The generator streams the body too. Afterwards a worker scans it and the counts are checked.
 */
export const uploadMemory: Scenario = {
  name: 'upload-memory',
  async run(context) {
    const bytes = sizeFromEnv('MEMORY_UPLOAD', 1024);
    const limitMb = String(Math.ceil(bytes / MiB) + 64);
    return withSystem(
      context,
      { MAX_FILE_SIZE_MB: limitMb },
      async ({ env, stack }) => {
        const url = `${stack.url}/api/v1/files`;
        const problems: string[] = [];
        const base = {
          url,
          concurrency: 1,
          maxMs: 600_000,
          expect: { status: [202], sha256: 'content' as const, deduplication: false },
          returnJobs: true,
        };
        // Warm the gateway's upload path (code, buffers, pools) before the baseline is taken.
        const warm = await runLoad({
          ...base,
          count: 32,
          warmup: 0,
          concurrency: 4,
          content: { bytes: MiB, salt: newSalt(), mode: 'unique', body: 'memory' },
        });
        if (warm.failed > 0) problems.push(`warm-up: ${describeFailures(warm)}`);
        await new Promise((resolve) => setTimeout(resolve, 500));

        const pid = stack.gateway.pid;
        const baseline = processMemory(pid);
        let peak = baseline.rss;
        const sampler = setInterval(() => {
          try {
            peak = Math.max(peak, processMemory(pid).rss);
          } catch {
            // the process is gone; the upload fails and says so
          }
        }, 5);
        let report: Awaited<ReturnType<typeof runLoad>>;
        try {
          report = await runLoad({
            ...base,
            count: 1,
            warmup: 0,
            content: { bytes, salt: newSalt(), mode: 'unique', body: 'stream' },
          });
        } finally {
          clearInterval(sampler);
        }
        const after = processMemory(pid);
        // The high-water mark catches a peak between two samples, if it rose during the upload.
        if (after.hwm > baseline.hwm) peak = Math.max(peak, after.hwm);
        peak = Math.max(peak, after.rss);
        if (report.failed > 0) problems.push(describeFailures(report));

        const job = report.jobs?.[0];
        if (!job) problems.push('no job recorded');
        else {
          if (!(await storedAt(env.storageRoot, job.sha256, bytes)))
            problems.push('the upload is not stored at its address with its size');
          const leftovers = leftoverTempFiles(env.storageRoot);
          if (leftovers > 0) problems.push(`${leftovers} temp files left on the volume`);
          await stack.setWorkers(1);
          if (!(await waitUntilNoneUnfinished(env, 120_000)))
            problems.push('the scan did not finish within 120 s');
          problems.push(
            ...(await checkCompleted(env, [job.jobId], expectedCounts(bytes))).problems,
          );
        }

        const growthMiB = (peak - baseline.rss) / MiB;
        return scenarioResult({
          scenario: 'upload-memory',
          figures: {
            mib: bytes / MiB,
            gb_per_s: gbPerSecond(bytes, report.seconds),
            gateway_rss_baseline_mib: round(baseline.rss / MiB, 1),
            gateway_rss_peak_mib: round(peak / MiB, 1),
            gateway_rss_growth_mib: round(growthMiB, 1),
            ...(problems.length > 0 ? { errors: problems.join(' | ').slice(0, 2000) } : {}),
          },
          ceiling: { rss_growth_budget_mib: BUDGET_MIB },
          ratio: growthMiB / BUDGET_MIB,
          target: 1,
          better: 'lower',
          verified: problems.length === 0,
        });
      },
      { keepVolumeUntilExit: false },
    );
  },
};
