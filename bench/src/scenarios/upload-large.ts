import { gbPerSecond, MiB, round, type Scenario, scenarioResult, sizeFromEnv } from '../harness.js';
import { expectedCounts, newSalt } from '../load/content.js';
import { type LoadReport, type LoadSpec, runLoad } from '../load/loadgen.js';
import { startCeiling } from '../system/ceiling.js';
import {
  checkCompleted,
  leftoverTempFiles,
  storedAt,
  waitUntilNoneUnfinished,
} from '../system/checks.js';
import { loadSettings, takeTurns, withSystem } from '../system/kit.js';

function oneUpload(url: string, bytes: number, expectSha256: 'content' | 'body'): LoadSpec {
  return {
    url,
    concurrency: 1,
    count: 1,
    maxMs: 300_000,
    warmup: 0,
    content: { bytes, salt: newSalt(), mode: 'unique', body: 'memory' },
    expect:
      expectSha256 === 'content'
        ? { status: [202], sha256: 'content', deduplication: false }
        : { status: [202], sha256: 'body' },
    returnJobs: true,
  };
}

/**
 * One 100 MiB upload through the edge and the gateway (multipart parsed, hashed, written to the
 * volume, recorded), against a bare node:http server that pipes the raw body through SHA-256 into
 * a file on the same volume. Afterwards a worker scans what was stored and the counts are checked.
 */
export const uploadLarge: Scenario = {
  name: 'upload-100mb',
  async run(context) {
    const bytes = sizeFromEnv('UPLOAD', 100);
    const runs = loadSettings().runs;
    return withSystem(
      context,
      {},
      async ({ env, stack }) => {
        const ceiling = await startCeiling(env, 'stream');
        const uploaded: NonNullable<LoadReport['jobs']> = [];
        let turns: Awaited<ReturnType<typeof takeTurns<'ceiling' | 'system'>>>;
        try {
          turns = await takeTurns(runs, {
            ceiling: () => runLoad(oneUpload(ceiling.url, bytes, 'body')),
            system: async () => {
              const report = await runLoad(
                oneUpload(`${stack.url}/api/v1/files`, bytes, 'content'),
              );
              uploaded.push(...(report.jobs ?? []));
              return report;
            },
          });
        } finally {
          await ceiling.stop();
        }

        const problems = [...turns.failures];
        for (const job of uploaded)
          if (!(await storedAt(env.storageRoot, job.sha256, bytes)))
            problems.push(`${job.sha256} is not stored at its address with ${bytes} bytes`);
        const leftovers = leftoverTempFiles(env.storageRoot);
        if (leftovers > 0) problems.push(`${leftovers} temp files left on the volume`);
        // The stored uploads are scanned and must count exactly.
        await stack.setWorkers(1);
        if (!(await waitUntilNoneUnfinished(env, 120_000)))
          problems.push('scans did not finish within 120 s');
        const done = await checkCompleted(
          env,
          uploaded.map((j) => j.jobId),
          expectedCounts(bytes),
        );
        problems.push(...done.problems);

        const system = turns.best.system;
        const bare = turns.best.ceiling;
        return scenarioResult({
          scenario: 'upload-100mb',
          figures: {
            mib: bytes / MiB,
            gb_per_s: gbPerSecond(bytes, system.seconds),
            seconds: round(system.seconds),
            ...(problems.length > 0 ? { errors: problems.join(' | ').slice(0, 2000) } : {}),
          },
          ceiling: {
            what: 'bare node:http piping the raw body through SHA-256 into a file',
            gb_per_s: gbPerSecond(bytes, bare.seconds),
            seconds: round(bare.seconds),
          },
          ratio: bare.seconds / system.seconds,
          target: 0.8,
          verified: problems.length === 0,
        });
      },
      { keepVolumeUntilExit: false },
    );
  },
};
