// `npm test`: the whole suite from a fresh checkout. Installs what is missing, builds (the
// end-to-end tests run the built services), checks types and lint, runs every package's tests on
// the real Postgres and Redis, and ends with one line summing every test run: `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDependencies, envWithTools, root } from './bootstrap.mjs';

const RESULTS = '.test-results/vitest.json';
const workspaces = ['packages', 'services', 'tests', 'infra']
  .flatMap((dir) =>
    existsSync(join(root, dir)) ? readdirSync(join(root, dir)).map((d) => join(root, dir, d)) : [],
  )
  .filter((dir) => existsSync(join(dir, 'package.json')));

ensureDependencies();
const pnpmBin = join(root, '.tools', 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');
const step = (name, args, env = {}) => {
  console.error(`\n=== ${name}`);
  const res = spawnSync(process.execPath, [pnpmBin, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: envWithTools({ ...process.env, ...env }),
  });
  return res.status === 0;
};

let passed = 0;
let failed = 0;
const checks = [
  ['build', ['turbo', 'run', 'build', '--output-logs=errors-only']],
  ['typecheck', ['turbo', 'run', 'typecheck', '--output-logs=errors-only']],
  ['lint and format (biome)', ['exec', 'biome', 'ci', '.']],
];
for (const [name, args] of checks) {
  if (step(name, args)) continue;
  console.error(`\n${name} failed`);
  failed++;
}

for (const dir of workspaces) rmSync(join(dir, RESULTS), { force: true });
// Two packages at a time on a 2-core machine: the suites start real services and mount tmpfs
// volumes, and more parallelism only turns timing margins into flakes.
const testsOk = step('tests', ['turbo', 'run', 'test', '--concurrency=2', '--continue'], {
  TEST_RESULTS_FILE: RESULTS,
});

for (const dir of workspaces) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (!pkg.scripts?.test) continue;
  const file = join(dir, RESULTS);
  if (!existsSync(file)) {
    console.error(`${pkg.name}: no test report (the test run crashed before reporting)`);
    failed++;
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  // A file that failed to load (syntax error, failing hook) has no failed tests but did fail.
  failed += report.testResults.filter(
    (r) => r.status === 'failed' && r.assertionResults.length === 0,
  ).length;
}
if (!testsOk && failed === 0) failed++;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
