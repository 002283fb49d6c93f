import { round, type Scenario, scenarioResult } from '../harness.js';
import { newSalt } from '../load/content.js';
import { type LoadReport, type LoadSpec, runLoad } from '../load/loadgen.js';
import { startCeiling } from '../system/ceiling.js';
import { leftoverTempFiles, postgresCpuSeconds, systemCounts } from '../system/checks.js';
import { cpuPerRequest, loadSettings, rateFigures, takeTurns, withSystem } from '../system/kit.js';
import { machineCpuSeconds } from '../system/stack.js';

export const UPLOAD_BYTES = 1024;

/** A run of unique 1 KiB uploads, `concurrency` at a time, bounded in count and time. */
export function uniqueUploads(url: string, expectSha256: 'content' | 'body'): LoadSpec {
  const load = loadSettings();
  return {
    url,
    concurrency: load.concurrency,
    count: load.uploads,
    maxMs: load.seconds * 1000,
    warmup: load.warmup,
    content: { bytes: UPLOAD_BYTES, salt: newSalt(), mode: 'unique', body: 'memory' },
    expect:
      expectSha256 === 'content'
        ? { status: [202], sha256: 'content', deduplication: false }
        : { status: [202], sha256: 'body' },
  };
}

/**
 * Unique 1 KiB uploads through the edge, against a bare node:http server doing the least an upload
 * needs (hash, write and rename a file, one INSERT, one XADD) under the same load. No worker runs:
 * this is the ingest path alone.
 */
export const upload1kb: Scenario = {
  name: 'upload-1kb',
  async run(context) {
    const load = loadSettings();
    return withSystem(context, {}, async ({ env, stack }) => {
      const ceiling = await startCeiling(env, 'minimal');
      const postgres = () => postgresCpuSeconds(env.databaseName);
      const cpu: Record<'system' | 'ceiling', Record<string, number>> = { system: {}, ceiling: {} };
      const best: Record<'system' | 'ceiling', number> = { system: 0, ceiling: 0 };
      const sent = { system: 0, ceiling: 0 };
      // Keeps the CPU split of each contender's fastest run.
      const measured = async (
        name: 'system' | 'ceiling',
        pids: Record<string, number | (() => number)>,
        spec: LoadSpec,
      ): Promise<LoadReport> => {
        const { report, cpuMs } = await cpuPerRequest(pids, () => runLoad(spec));
        sent[name] += report.sent;
        if (report.perSecond > best[name]) {
          best[name] = report.perSecond;
          cpu[name] = cpuMs;
        }
        return report;
      };
      let turns: Awaited<ReturnType<typeof takeTurns<'ceiling' | 'system'>>>;
      try {
        turns = await takeTurns(load.runs, {
          ceiling: () =>
            measured(
              'ceiling',
              { server: ceiling.pid, postgres, machine: machineCpuSeconds },
              uniqueUploads(ceiling.url, 'body'),
            ),
          system: () =>
            measured(
              'system',
              {
                edge: stack.edge.cpuSeconds,
                gateway: stack.gateway.pid,
                postgres,
                machine: machineCpuSeconds,
              },
              uniqueUploads(`${stack.url}/api/v1/files`, 'content'),
            ),
        });
      } finally {
        await ceiling.stop();
      }
      const recorded = await ceiling.recorded();
      const counts = await systemCounts(env);
      const problems = [...turns.failures];
      // Every accepted upload is one job, one content, one stream entry (no worker is running).
      if (counts.jobs !== sent.system || counts.files !== sent.system)
        problems.push(`${sent.system} uploads sent, ${counts.jobs} jobs and ${counts.files} files`);
      if (counts.streamEntries !== sent.system)
        problems.push(`${counts.streamEntries} stream entries for ${sent.system} uploads`);
      if (recorded.rows !== sent.ceiling || recorded.entries !== sent.ceiling)
        problems.push(`ceiling recorded ${JSON.stringify(recorded)} of ${sent.ceiling}`);
      const leftovers = leftoverTempFiles(env.storageRoot);
      if (leftovers > 0) problems.push(`${leftovers} temp files left on the volume`);

      const system = turns.best.system;
      const bare = turns.best.ceiling;
      return scenarioResult({
        scenario: 'upload-1kb',
        figures: {
          concurrency: load.concurrency,
          uploads: system.ok,
          ...rateFigures(system, 'uploads_'),
          cpu_ms_per_upload_edge: cpu.system.edge ?? 0,
          cpu_ms_per_upload_gateway: cpu.system.gateway ?? 0,
          cpu_ms_per_upload_postgres: cpu.system.postgres ?? 0,
          cpu_ms_per_upload_machine: cpu.system.machine ?? 0,
          ...(problems.length > 0 ? { errors: problems.join(' | ').slice(0, 2000) } : {}),
        },
        ceiling: {
          what: 'bare node:http: hash, write+rename, INSERT, XADD',
          uploads: bare.ok,
          ...rateFigures(bare, 'uploads_'),
          cpu_ms_per_upload_server: cpu.ceiling.server ?? 0,
          cpu_ms_per_upload_postgres: cpu.ceiling.postgres ?? 0,
          cpu_ms_per_upload_machine: cpu.ceiling.machine ?? 0,
        },
        ratio: round(system.perSecond / bare.perSecond),
        target: 0.7,
        verified: problems.length === 0,
      });
    });
  },
};
