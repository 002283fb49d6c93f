// Makes a fresh checkout runnable with nothing but Node 20 and npm: installs the pinned pnpm into
// .tools/ (never globally) and the workspace dependencies from the lockfile when they are missing.
// Exports pnpm() so start.mjs and test.mjs run the same binary.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pnpmVersion = pkg.packageManager.split('@')[1];
const toolsDir = join(root, '.tools');
const localPnpm = join(toolsDir, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (res.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (exit ${res.status ?? res.signal})`);
    process.exit(res.status ?? 1);
  }
}

function installedPnpmVersion() {
  if (!existsSync(localPnpm)) return null;
  const res = spawnSync(process.execPath, [localPnpm, '--version'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : null;
}

export function ensurePnpm() {
  if (installedPnpmVersion() === pnpmVersion) return;
  console.error(`bootstrap: installing pnpm ${pnpmVersion} into .tools/`);
  run('npm', [
    'install',
    '--prefix',
    toolsDir,
    '--no-save',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    `pnpm@${pnpmVersion}`,
  ]);
}

/**
 * The environment with the pinned pnpm first on PATH: turbo and package scripts call `pnpm` by
 * name, and a fresh machine has none installed globally.
 */
export function envWithTools(env = process.env) {
  const bin = join(toolsDir, 'node_modules', '.bin');
  return { ...env, PATH: `${bin}${delimiter}${env.PATH ?? ''}` };
}

/** Runs pnpm with the given arguments, exiting this process when it fails. */
export function pnpm(args, opts = {}) {
  run(process.execPath, [localPnpm, ...args], {
    ...opts,
    env: envWithTools(opts.env ?? process.env),
  });
}

export function ensureDependencies() {
  ensurePnpm();
  // Always run: with everything in place it is a quick no-op, and it catches a lockfile that
  // moved since the last install.
  const lock = join(root, 'pnpm-lock.yaml');
  pnpm(['install', '--prefer-offline', ...(existsSync(lock) ? ['--frozen-lockfile'] : [])]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureDependencies();
