import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Figures = Record<string, number | string | boolean>;

/**
 * One line of bench output. `ratio` relates the scenario's headline figure to its ceiling (what the
 * same work costs at best on this machine, measured in the same run), so it means the same on a
 * fast machine and a slow one; `pass` compares it with `target`.
 */
export interface ScenarioResult {
  scenario: string;
  figures: Figures;
  ceiling: Figures;
  ratio: number;
  target: number;
  pass: boolean;
  /** The work was checked to be right (counts, digests), so the figures are worth reading. */
  verified: boolean;
}

export interface BenchContext {
  /** Timed runs of each contender; the best one counts. */
  runs: number;
  /** Where scenarios put their temporary files. */
  baseDir: string;
}

/** A scenario lives in its own file under scenarios/ and is listed in scenarios/index.ts. */
export interface Scenario {
  name: string;
  run(context: BenchContext): Promise<ScenarioResult>;
}

export const MiB = 1 << 20;

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function contextFromEnv(env: NodeJS.ProcessEnv = process.env): BenchContext {
  return { runs: positiveInteger(env, 'BENCH_RUNS', 5), baseDir: env.BENCH_DIR || tmpdir() };
}

/** A size in MiB from `BENCH_<name>_MB`, so a slow machine can run the same scenarios smaller. */
export function sizeFromEnv(name: string, fallbackMiB: number, env = process.env): number {
  return positiveInteger(env, `BENCH_${name}_MB`, fallbackMiB) * MiB;
}

export interface Timing<R> {
  /** The best (lowest) wall time over all runs. */
  seconds: number;
  /** What the last run returned, for checking. */
  result: R;
}

/**
 * Runs every contender `runs` times, taking turns, so load from elsewhere on the machine (other
 * builds, turbo itself) falls on all of them alike; keeps each one's best time.
 */
export async function bestOf<C extends Record<string, () => unknown>>(
  runs: number,
  contenders: C,
): Promise<{ [K in keyof C]: Timing<Awaited<ReturnType<C[K]>>> }> {
  const timings: Record<string, Timing<unknown>> = {};
  for (let run = 0; run < runs; run++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const start = process.hrtime.bigint();
      const result = await fn();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const best = timings[name];
      timings[name] = { seconds: best ? Math.min(best.seconds, seconds) : seconds, result };
    }
  }
  return timings as { [K in keyof C]: Timing<Awaited<ReturnType<C[K]>>> };
}

export function round(value: number, digits = 3): number {
  return Number(value.toFixed(digits));
}

/** Decimal gigabytes per second, as throughput is usually quoted. */
export function gbPerSecond(bytes: number, seconds: number): number {
  return round(bytes / seconds / 1e9);
}

export interface ResultInit {
  scenario: string;
  figures: Figures;
  ceiling: Figures;
  ratio: number;
  target: number;
  verified: boolean;
  /** Throughput wants a ratio at or above the target; memory and latency at or below it. */
  better?: 'higher' | 'lower';
}

export function scenarioResult(init: ResultInit): ScenarioResult {
  const { better = 'higher', ...line } = init;
  const pass = better === 'higher' ? line.ratio >= line.target : line.ratio <= line.target;
  return {
    scenario: line.scenario,
    figures: line.figures,
    ceiling: line.ceiling,
    ratio: round(line.ratio),
    target: line.target,
    pass,
    verified: line.verified,
  };
}

export function printResult(result: ScenarioResult): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

const liveTempDirs = new Set<string>();

/**
 * A fresh directory for `fn`, removed afterwards, or with `keepUntilExit` when the process exits
 * (see removeTempDirsNow): for a volume full of small files, whose deletion would slow down what
 * runs next. A few huge files are better removed at once, before their writeback competes with
 * the next scenario's disk.
 */
export async function withTempDir<T>(
  context: BenchContext,
  fn: (dir: string) => Promise<T>,
  options: { keepUntilExit?: boolean } = {},
): Promise<T> {
  const dir = await mkdtemp(join(context.baseDir, 'scanner-bench-'));
  if (liveTempDirs.size === 0) process.once('exit', removeTempDirsNow);
  liveTempDirs.add(dir);
  try {
    return await fn(dir);
  } finally {
    if (!options.keepUntilExit) {
      await rm(dir, { recursive: true, force: true });
      liveTempDirs.delete(dir);
    }
  }
}

/**
 * Removes every temp dir still there: when the process exits, or at once for an interrupted run
 * (gigabyte files must not stay behind in /tmp). Volumes of small files wait for this: on a
 * filesystem mounted with `discard` (this VM's root is), deleting tens of thousands of files made
 * file creation in the following 10–20 s ten times slower (1.5 ms instead of 0.15 ms of CPU per
 * 1 KiB file), and every scenario with unique uploads started in the previous one's shadow.
 */
export function removeTempDirsNow(): void {
  for (const dir of liveTempDirs) rmSync(dir, { recursive: true, force: true });
  liveTempDirs.clear();
}

type Cleanup = () => unknown;
const pendingCleanups = new Set<Cleanup>();

/**
 * Registers what an interrupted run must still undo (child processes, a database, Redis keys);
 * the returned function unregisters it once the scenario has cleaned up by itself.
 */
export function onInterrupt(cleanup: Cleanup): () => void {
  pendingCleanups.add(cleanup);
  return () => pendingCleanups.delete(cleanup);
}

/**
 * Something to undo when the run ends (main.ts and the experiments await cleanUpNow() last); an
 * interrupted run does it too.
 */
export function deferUntilExit(cleanup: Cleanup): void {
  pendingCleanups.add(cleanup);
}

/** The end of a run, or Ctrl-C: runs every registered cleanup, newest first, each bounded in time; then temp dirs. */
export async function cleanUpNow(timeoutMs = 15_000): Promise<void> {
  const cleanups = [...pendingCleanups].reverse();
  pendingCleanups.clear();
  for (const cleanup of cleanups) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.resolve()
        .then(cleanup)
        .catch((err) => console.error('cleanup failed:', err)),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
  removeTempDirsNow();
}

/** The value below which `q` (0..1) of the sorted samples fall (nearest rank). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/**
 * Node arguments that run a bench module in a child process: from dist/ (the bench) the built
 * file; from src/ (the bench's tests) the TypeScript source through tsx. `near` is the caller's
 * `import.meta.url`, `name` the module's file name without extension.
 */
export function childModuleArgs(near: string, name: string): string[] {
  const built = fileURLToPath(new URL(`./${name}.js`, near));
  if (existsSync(built)) return [built];
  return [
    '--conditions=@scanner/source',
    '--import',
    'tsx',
    fileURLToPath(new URL(`./${name}.ts`, near)),
  ];
}
