import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
export const repoPath = (...parts: string[]) => join(repoRoot, ...parts);

/** The four services of SPEC.md, with the port each listens on by default. */
export const SERVICES = {
  'upload-gateway': 8001,
  'status-query': 8002,
  'scanner-worker': 8003,
  janitor: 8004,
} as const;
export type ServiceName = keyof typeof SERVICES;
export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path of a command these tests need, looked up on PATH and then in `extraDirs` (nginx lives
 * in /usr/sbin, which a non-root PATH lacks). A missing tool fails the test, naming the Debian
 * package that provides it: these checks must never pass by being skipped.
 */
export function requireTool(command: string, aptPackage: string, extraDirs: string[] = []): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(
    `${command} is not installed: these deployment checks need it. ` +
      `Install the Debian package "${aptPackage}" (apt-get install -y ${aptPackage}).`,
  );
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; throws with its output unless it exits 0 (or `allowFailure`). */
export function run(
  command: string,
  args: string[],
  options: SpawnSyncOptions & { allowFailure?: boolean } = {},
): RunResult {
  const { allowFailure, ...spawnOptions } = options;
  const res = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...spawnOptions,
  });
  if (res.error) throw res.error;
  const result = { status: res.status, stdout: String(res.stdout), stderr: String(res.stderr) };
  if (!allowFailure && res.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${res.status ?? res.signal}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/** The pnpm the repository pins (scripts/bootstrap.mjs installs it into .tools/), else PATH's. */
export function pnpmCommand(): { command: string; prefix: string[] } {
  const local = repoPath('.tools', 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');
  if (existsSync(local)) return { command: process.execPath, prefix: [local] };
  const onPath = (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'pnpm'))
    .find(isExecutable);
  if (onPath) return { command: onPath, prefix: [] };
  throw new Error(
    'pnpm is not installed: run `npm test` (scripts/bootstrap.mjs installs it into .tools/)',
  );
}

/**
 * A suite's shared set-up that fails its tests rather than skipping them: vitest marks the tests
 * of a failed `beforeAll` as skipped, so the set-up's error is kept and rethrown by `get()` in
 * every test that needs it.
 */
export function sharedSetup<T>(): { run(fn: () => T | Promise<T>): Promise<void>; get(): T } {
  let state: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  return {
    async run(fn) {
      try {
        state = { ok: true, value: await fn() };
      } catch (error) {
        state = { ok: false, error };
      }
    },
    get() {
      if (!state) throw new Error('set-up has not run');
      if (!state.ok) throw state.error;
      return state.value;
    },
  };
}

/** Computes once on first use; a failure is remembered and thrown to every caller. */
export function lazy<T>(fn: () => T): () => T {
  let state: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  return () => {
    if (!state) {
      try {
        state = { ok: true, value: fn() };
      } catch (error) {
        state = { ok: false, error };
      }
    }
    if (!state.ok) throw state.error;
    return state.value;
  };
}
