import { type Figures, percentile, round, type Scenario, scenarioResult } from '../harness.js';
import { expectedCounts } from '../load/content.js';
import { describeFailures, type LoadReport, runLoad } from '../load/loadgen.js';
import {
  checkCompleted,
  checkThroughEdge,
  systemCounts,
  waitUntilNoneUnfinished,
} from '../system/checks.js';
import { cpuPerRequest, loadSettings, type System, withSystem } from '../system/kit.js';
import { machineCpuSeconds } from '../system/stack.js';
import { UPLOAD_BYTES, uniqueUploads } from './upload-1kb.js';

const WORKER_COUNTS = [1, 2] as const;
const COMPLETION_TIMEOUT_MS = 180_000;
const IDLE_UPLOADS = 100;
const IDLE_PACE_MS = 50;

interface EndToEnd {
  jobsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  uploads: number;
  /** CPU time the whole machine spent per job, from the first upload to the last completion. */
  machineCpuMs: number;
  problems: string[];
}

/**
 * `count` unique uploads through the edge with the workers running, until every job is completed:
 * jobs per second from the first upload sent to the last job completed (Postgres's
 * completed_at), and each job's latency from its upload being sent to its completion.
 */
async function endToEnd(
  { env, stack }: System,
  count: number,
  pace?: { concurrency: number; paceMs: number },
): Promise<EndToEnd> {
  const spec = {
    ...uniqueUploads(`${stack.url}/api/v1/files`, 'content'),
    count,
    maxMs: 60_000,
    warmup: 0,
    returnJobs: true,
    ...pace,
  };
  const machine0 = machineCpuSeconds();
  const report = await runLoad(spec);
  const jobs = report.jobs ?? [];
  const problems = report.failed > 0 ? [describeFailures(report)] : [];
  if (!(await waitUntilNoneUnfinished(env, COMPLETION_TIMEOUT_MS)))
    problems.push(`jobs still unfinished after ${COMPLETION_TIMEOUT_MS / 1000} s`);
  const machineCpuMs = round(
    ((machineCpuSeconds() - machine0) * 1000) / Math.max(1, jobs.length),
    3,
  );
  const expected = expectedCounts(UPLOAD_BYTES);
  const done = await checkCompleted(
    env,
    jobs.map((j) => j.jobId),
    expected,
  );
  problems.push(...done.problems);
  // A sample read back through the edge as a client would.
  problems.push(
    ...(await checkThroughEdge(
      stack.url,
      jobs.slice(0, 50).map((j) => j.jobId),
      expected,
    )),
  );
  const startedAt = new Map(jobs.map((j) => [j.jobId, j.startedAt]));
  const first = Math.min(...jobs.map((j) => j.startedAt));
  const last = Math.max(...done.completed.map((c) => c.completedAt));
  const latencies = done.completed
    .map((c) => c.completedAt - (startedAt.get(c.jobId) ?? c.completedAt))
    .sort((a, b) => a - b);
  return {
    jobsPerSecond: (done.completed.length * 1000) / (last - first),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    uploads: jobs.length,
    machineCpuMs,
    problems,
  };
}

/**
 * 1 KiB uploads to completion, with 1 and with 2 scanner-workers, against the rate at which the
 * same system accepts uploads with no worker running (the upload-1kb figure, measured here too).
 */
export const uploadCompletion: Scenario = {
  name: 'upload-completion',
  async run(context) {
    const load = loadSettings();
    return withSystem(context, {}, async (system) => {
      const { env, stack } = system;
      const problems: string[] = [];
      const machine = { accepted: 0, acceptedSent: 0 } as Record<string, number>;
      let accepted: LoadReport | undefined;
      let backlog = 0;
      let drainSeconds = 0;
      const results: Record<number, EndToEnd> = {};
      // Rounds of: uploads accepted with no worker, the backlog they leave drained (so it is not
      // in what follows), then each worker count end to end. Ceiling and system take turns, so a
      // change in the machine's speed during the scenario falls on both alike.
      for (let run = 0; run < load.runs; run++) {
        await stack.setWorkers(0);
        const { report, cpuMs } = await cpuPerRequest({ machine: machineCpuSeconds }, () =>
          runLoad(uniqueUploads(`${stack.url}/api/v1/files`, 'content')),
        );
        if (report.failed > 0) problems.push(`accepted: ${describeFailures(report)}`);
        if (!accepted || report.perSecond > accepted.perSecond) {
          accepted = report;
          machine.accepted = cpuMs.machine ?? 0;
        }
        await stack.setWorkers(2);
        const drainStart = performance.now();
        const left = (await systemCounts(env)).unfinished;
        if (!(await waitUntilNoneUnfinished(env, COMPLETION_TIMEOUT_MS)))
          problems.push('the backlog did not drain');
        const seconds = (performance.now() - drainStart) / 1000;
        if (left / seconds > backlog / (drainSeconds || 1))
          [backlog, drainSeconds] = [left, seconds];
        for (const workers of WORKER_COUNTS) {
          await stack.setWorkers(workers);
          const e2e = await endToEnd(system, load.completionUploads);
          problems.push(...e2e.problems.map((p) => `${workers} worker(s): ${p}`));
          const best = results[workers];
          if (!best || e2e.jobsPerSecond > best.jobsPerSecond) results[workers] = e2e;
        }
      }
      // Latency on an idle system: one upload at a time, 50 ms apart, each scanned before the next
      // arrives (one worker). Under load the figures above include queueing and batching.
      await stack.setWorkers(1);
      const idle = await endToEnd(system, IDLE_UPLOADS, { concurrency: 1, paceMs: IDLE_PACE_MS });
      problems.push(...idle.problems.map((p) => `idle: ${p}`));

      const counts = await systemCounts(env);
      if (counts.streamEntries !== 0)
        problems.push(`${counts.streamEntries} entries left in the stream`);

      const acceptedRate = (accepted as LoadReport).perSecond;
      const figures: Figures = { uploads_per_run: load.completionUploads };
      for (const workers of WORKER_COUNTS) {
        const r = results[workers] as EndToEnd;
        figures[`jobs_per_s_${workers}w`] = round(r.jobsPerSecond, 1);
        figures[`completed_p50_ms_${workers}w`] = round(r.p50Ms, 1);
        figures[`completed_p99_ms_${workers}w`] = round(r.p99Ms, 1);
        figures[`ratio_${workers}w`] = round(r.jobsPerSecond / acceptedRate);
        figures[`cpu_ms_per_job_machine_${workers}w`] = r.machineCpuMs;
      }
      figures.backlog_drain_jobs_per_s_2w = round(backlog / drainSeconds, 1);
      figures.idle_uploads = idle.uploads;
      figures.idle_completed_p50_ms = round(idle.p50Ms, 1);
      figures.idle_completed_p99_ms = round(idle.p99Ms, 1);
      if (problems.length > 0) figures.errors = problems.join(' | ').slice(0, 2000);
      const best = Math.max(...WORKER_COUNTS.map((w) => (results[w] as EndToEnd).jobsPerSecond));
      return scenarioResult({
        scenario: 'upload-completion',
        figures,
        ceiling: {
          what: 'uploads accepted per second by the same system, no worker running',
          uploads_per_s: round(acceptedRate, 1),
          uploads_p50_ms: round((accepted as LoadReport).p50Ms, 2),
          uploads_p99_ms: round((accepted as LoadReport).p99Ms, 2),
          cpu_ms_per_upload_machine: machine.accepted as number,
        },
        ratio: best / acceptedRate,
        target: 0.8,
        verified: problems.length === 0,
      });
    });
  },
};
