// What the HTTP scenarios share: a system to run against (created and destroyed around the
// scenario), load sizes from the environment, and turn-taking between a ceiling and the system.
import { type BenchContext, deferUntilExit, type Figures, round, withTempDir } from '../harness.js';
import { describeFailures, type LoadReport } from '../load/loadgen.js';
import { BenchEnvironment, processCpuSeconds, Stack } from './stack.js';

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

/** Load sizes; every one bounded in count and in time. */
export function loadSettings() {
  return {
    /** Turns of ceiling and system per scenario (the best of each is kept). */
    runs: positive('BENCH_LOAD_RUNS', 3),
    concurrency: positive('BENCH_CONCURRENCY', 64),
    /** Timed uploads per run at most… */
    uploads: positive('BENCH_UPLOADS', 6000),
    /** …and seconds per run at most. */
    seconds: positive('BENCH_LOAD_SECONDS', 4),
    /** Uploads per end-to-end (to completion) run. */
    completionUploads: positive('BENCH_COMPLETION_UPLOADS', 3000),
    warmup: 256,
  };
}

export interface System {
  env: BenchEnvironment;
  stack: Stack;
}

/**
 * Runs `fn` against a fresh system (own database, Redis prefix, volume, processes). Its processes
 * are stopped afterwards whatever happens; its database, keys and volume go when the run ends.
 * A failure carries the tail of every process's log.
 */
export async function withSystem<T>(
  context: BenchContext,
  serviceEnv: Record<string, string>,
  fn: (system: System) => Promise<T>,
  /** False for a volume of a few huge files, better removed at once (see withTempDir). */
  options: { keepVolumeUntilExit?: boolean } = {},
): Promise<T> {
  return withTempDir(
    context,
    async (dir) => {
      const env = await BenchEnvironment.create(dir);
      try {
        const stack = await Stack.start(env, serviceEnv);
        try {
          return await fn({ env, stack });
        } catch (err) {
          const logs = await stack.logs().catch(() => '');
          throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs}`, {
            cause: err,
          });
        } finally {
          await stack.stop();
        }
      } finally {
        // The database is dropped (and the keys deleted) when the run ends, with the temp dirs:
        // dropping it deletes its files, which slows the next scenario's file creation here.
        deferUntilExit(() => env.destroy());
      }
    },
    { keepUntilExit: options.keepVolumeUntilExit ?? true },
  );
}

export interface Turns<K extends string> {
  /** Each contender's fastest run. */
  best: Record<K, LoadReport>;
  /** Every run's failures, one line per contender that had any. */
  failures: string[];
  /** Runs whose answers were all right. */
  verified: boolean;
}

/**
 * Runs each contender `runs` times, taking turns so that load from elsewhere on the machine falls
 * on all alike, and keeps each one's best (highest rate) run. Every run is checked.
 */
export async function takeTurns<K extends string>(
  runs: number,
  contenders: Record<K, () => Promise<LoadReport>>,
): Promise<Turns<K>> {
  const best = {} as Record<K, LoadReport>;
  const failures: string[] = [];
  for (let run = 0; run < runs; run++) {
    for (const [name, fn] of Object.entries(contenders) as Array<[K, () => Promise<LoadReport>]>) {
      const report = await fn();
      // Progress on stderr: every run's rate, not only the best, shows how steady the machine was.
      process.stderr.write(`# run ${run + 1}/${runs} ${name}: ${report.perSecond.toFixed(0)}/s\n`);
      if (report.failed > 0) failures.push(`${name}: ${describeFailures(report)}`);
      const current = best[name];
      if (!current || report.perSecond > current.perSecond) best[name] = report;
    }
  }
  return { best, failures, verified: failures.length === 0 };
}

/** Rate, latencies and the load generator's CPU per request of a load report, as figures. */
export function rateFigures(report: LoadReport, prefix = ''): Figures {
  return {
    [`${prefix}per_s`]: round(report.perSecond, 1),
    [`${prefix}p50_ms`]: round(report.p50Ms, 2),
    [`${prefix}p99_ms`]: round(report.p99Ms, 2),
    cpu_ms_per_upload_loadgen: round(report.cpuMsPerRequest, 3),
  };
}

/** CPU milliseconds per request each process spent during `fn` (from /proc). */
export async function cpuPerRequest<T extends LoadReport>(
  pids: Record<string, number | (() => number)>,
  fn: () => Promise<T>,
): Promise<{ report: T; cpuMs: Record<string, number> }> {
  const read = () =>
    Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [
        name,
        typeof pid === 'function' ? pid() : processCpuSeconds(pid),
      ]),
    );
  const before = read();
  const report = await fn();
  const after = read();
  const cpuMs: Record<string, number> = {};
  for (const name of Object.keys(pids)) {
    cpuMs[name] = round((((after[name] ?? 0) - (before[name] ?? 0)) * 1000) / report.sent, 3);
  }
  return { report, cpuMs };
}
