// `pnpm --filter @scanner/bench bench [scenario...]`: runs the named scenarios (all by default),
// one JSON line each on stdout. Exits non-zero when a scenario fails or its results are wrong,
// never because of a figure: speed is reported, not asserted.
import { availableParallelism, cpus } from 'node:os';
import { cleanUpNow, contextFromEnv, printResult } from './harness.js';
import { scenarios } from './scenarios/index.js';
import { benchEdgeKind } from './system/stack.js';

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !scenarios.some((s) => s.name === name));
if (unknown.length > 0) {
  console.error(
    `unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`,
  );
  process.exit(2);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`# ${signal}: stopping processes, dropping databases, removing temp files`);
    void cleanUpNow().finally(() => process.exit(130));
  });
}

const context = contextFromEnv();
console.error(
  `# node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${availableParallelism()}, best of ${context.runs} runs`,
);
if (wanted.length === 0 || wanted.some((name) => name.startsWith('upload-')))
  console.error(`# edge: ${benchEdgeKind()} (BENCH_EDGE=nginx|node|auto)`);

let ok = true;
for (const scenario of scenarios.filter((s) => wanted.length === 0 || wanted.includes(s.name))) {
  try {
    const result = await scenario.run(context);
    printResult(result);
    if (!result.verified) {
      console.error(`${scenario.name}: results did not verify`);
      ok = false;
    }
  } catch (err) {
    console.error(`${scenario.name} failed:`, err);
    ok = false;
  }
}
// Databases, Redis keys and temp dirs of every scenario go now, not between scenarios.
await cleanUpNow();
process.exitCode = ok ? 0 : 1;
