import { round, type Scenario, scenarioResult } from '../harness.js';
import { contentBuffer, expectedCounts, newSalt, sha256Hex } from '../load/content.js';
import { describeFailures, type LoadSpec, runLoad } from '../load/loadgen.js';
import { startCeiling } from '../system/ceiling.js';
import {
  checkCompleted,
  leftoverTempFiles,
  systemCounts,
  waitUntilNoneUnfinished,
} from '../system/checks.js';
import { cpuPerRequest, loadSettings, rateFigures, takeTurns, withSystem } from '../system/kit.js';
import { machineCpuSeconds, startEdge } from '../system/stack.js';
import { UPLOAD_BYTES, uniqueUploads } from './upload-1kb.js';

/**
 * Uploads of content already scanned, whole (`duplicate`) or announced by its digest
 * (`hash-first`: `Repr-Digest`, answered before the body is read), against unique uploads to the
 * same system under the same load. No worker runs during the timed work.
 *
 * A third contender, the floor, takes the same requests through an edge like the system's to a
 * bare node:http server that answers each with the gateway's JSON and does nothing else. No
 * gateway behind that edge can answer faster, so `floor_ratio_to_unique` is the highest ratio this
 * machine allows, measured in the same run, and `ratio_to_floor` how close the system comes to it.
 */
function dedupScenario(kind: 'duplicate' | 'hash-first', target: number): Scenario {
  const name = kind === 'duplicate' ? 'upload-dedup' : 'upload-hash-first';
  return {
    name,
    async run(context) {
      const load = loadSettings();
      const expected = expectedCounts(UPLOAD_BYTES);
      return withSystem(context, {}, async ({ env, stack }) => {
        const url = `${stack.url}/api/v1/files`;
        const salt = newSalt();
        const known = (count: number, warmup: number): LoadSpec => ({
          ...uniqueUploads(url, 'content'),
          count,
          warmup,
          content: { bytes: UPLOAD_BYTES, salt, mode: 'same', body: 'memory' },
        });
        const problems: string[] = [];
        // The content is uploaded and scanned once first.
        const first = await runLoad({ ...known(1, 0), returnJobs: true });
        if (first.failed > 0) problems.push(`first upload: ${describeFailures(first)}`);
        await stack.setWorkers(1);
        if (!(await waitUntilNoneUnfinished(env, 60_000))) problems.push('first scan unfinished');
        await stack.setWorkers(0);
        problems.push(
          ...(await checkCompleted(env, first.jobs?.map((j) => j.jobId) ?? [], expected)).problems,
        );

        const repeat: LoadSpec = {
          ...known(load.uploads, load.warmup),
          reprDigest: kind === 'hash-first',
          expect: { status: [200], sha256: 'content', deduplication: true, results: expected },
        };
        // Only the HTTP hops: the answer is the one the gateway gives, without looking anything up.
        const floorServer = await startCeiling(env, 'answer', {
          status: 'completed',
          message: 'Content already scanned; results returned from the previous scan',
          deduplication: true,
          results: expected,
          sha256: sha256Hex([contentBuffer({ bytes: UPLOAD_BYTES, salt }, 0)]),
          file_size: UPLOAD_BYTES,
        });
        const floorAddress = new URL(floorServer.url).host;
        const floorEdge = await startEdge(
          env,
          { gateway: floorAddress, status: floorAddress },
          {},
        ).catch(async (err: unknown) => {
          await floorServer.stop();
          throw err;
        });
        let floorCpu: Record<string, number> = {};
        let floorBest = 0;
        let sent = 0;
        let cpu: Record<string, number> = {};
        let bestRate = 0;
        let uniqueBest = 0;
        let uniqueMachine = 0;
        const turns = await takeTurns(load.runs, {
          floor: async () => {
            const { report, cpuMs } = await cpuPerRequest(
              {
                edge: floorEdge.cpuSeconds,
                server: floorServer.pid,
                machine: machineCpuSeconds,
              },
              () => runLoad({ ...repeat, url: `${floorEdge.url}/api/v1/files` }),
            );
            if (report.perSecond > floorBest) {
              floorBest = report.perSecond;
              floorCpu = cpuMs;
            }
            return report;
          },
          unique: async () => {
            const { report, cpuMs } = await cpuPerRequest({ machine: machineCpuSeconds }, () =>
              runLoad(uniqueUploads(url, 'content')),
            );
            if (report.perSecond > uniqueBest) {
              uniqueBest = report.perSecond;
              uniqueMachine = cpuMs.machine ?? 0;
            }
            return report;
          },
          [kind]: async () => {
            const { report, cpuMs } = await cpuPerRequest(
              {
                edge: stack.edge.cpuSeconds,
                gateway: stack.gateway.pid,
                machine: machineCpuSeconds,
              },
              () => runLoad(repeat),
            );
            sent += report.sent;
            if (report.perSecond > bestRate) {
              bestRate = report.perSecond;
              cpu = cpuMs;
            }
            return report;
          },
        } as Record<'floor' | 'unique' | typeof kind, () => ReturnType<typeof runLoad>>).finally(
          async () => {
            await floorEdge.stop();
            await floorServer.stop();
          },
        );
        problems.push(...turns.failures);

        // Every repeat is a job of its own, completed at once; the content was stored once.
        const { rows } = await env.db.query<{ jobs: string; completed: string; scans: number }>(
          `SELECT count(*) AS jobs, count(*) FILTER (WHERE j.status = 'completed') AS completed,
                  max(f.scan_attempts) AS scans
             FROM jobs j JOIN files f ON f.sha256 = j.sha256
            WHERE j.original_filename LIKE $1`,
          [`bench-${salt}-%`],
        );
        const row = rows[0];
        if (Number(row?.jobs) !== sent + 1 || Number(row?.completed) !== sent + 1)
          problems.push(`${sent} repeats: ${row?.jobs} jobs, ${row?.completed} completed`);
        if (row?.scans !== 1) problems.push(`the content was scanned ${row?.scans} times`);
        const counts = await systemCounts(env);
        if (counts.unfinished !== counts.streamEntries)
          problems.push('unique uploads and stream entries disagree');
        const leftovers = leftoverTempFiles(env.storageRoot);
        if (leftovers > 0) problems.push(`${leftovers} temp files left on the volume`);

        const repeated = turns.best[kind];
        const unique = turns.best.unique;
        const floor = turns.best.floor;
        return scenarioResult({
          scenario: name,
          figures: {
            concurrency: load.concurrency,
            uploads: repeated.ok,
            ...rateFigures(repeated, 'uploads_'),
            cpu_ms_per_upload_edge: cpu.edge ?? 0,
            cpu_ms_per_upload_gateway: cpu.gateway ?? 0,
            cpu_ms_per_upload_machine: cpu.machine ?? 0,
            floor_uploads_per_s: round(floor.perSecond, 1),
            floor_ratio_to_unique: round(floor.perSecond / unique.perSecond),
            ratio_to_floor: round(repeated.perSecond / floor.perSecond),
            floor_cpu_ms_per_upload_loadgen: round(floor.cpuMsPerRequest, 3),
            floor_cpu_ms_per_upload_edge: floorCpu.edge ?? 0,
            floor_cpu_ms_per_upload_server: floorCpu.server ?? 0,
            floor_cpu_ms_per_upload_machine: floorCpu.machine ?? 0,
            ...(problems.length > 0 ? { errors: problems.join(' | ').slice(0, 2000) } : {}),
          },
          ceiling: {
            what: 'unique 1 KiB uploads to the same system, same load',
            uploads: unique.ok,
            ...rateFigures(unique, 'uploads_'),
            cpu_ms_per_upload_machine: uniqueMachine,
          },
          ratio: round(repeated.perSecond / unique.perSecond),
          target,
          verified: problems.length === 0,
        });
      });
    },
  };
}

export const uploadDedup = dedupScenario('duplicate', 1.5);
export const uploadHashFirst = dedupScenario('hash-first', 3);
