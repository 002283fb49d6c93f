// `node dist/tools/cpuprofile-summary.js <file.cpuprofile>... [--top N]`: the top self-time
// functions of V8 CPU profiles (as written by `node --cpu-prof`, e.g. with BENCH_CPU_PROF=<dir>),
// and the same time grouped by where the code lives (a dependency, a workspace package, node
// internals, GC), so the cost of each layer of a request path is visible at a glance.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: a dependency, a workspace package, node's internals, or V8 itself. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pnpm) return pnpm[1] as string;
  const plain = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (plain) return plain[1] as string;
  const workspace = /\/(packages|services|infra)\/([^/]+)\//.exec(url);
  if (workspace) return `${workspace[1]}/${workspace[2]}`;
  return url;
}

export interface Summary {
  totalMs: number;
  /** Self time per function, highest first. */
  functions: Array<{ name: string; ms: number; share: number }>;
  /** Self time per area, highest first. */
  areas: Array<{ name: string; ms: number; share: number }>;
}

export function summarise(profile: Profile, top = 25): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    if (frame.functionName === '(idle)') continue;
    total += us;
    const file = frame.url ? `${areaOf(frame)}:${basename(frame.url)}:${frame.lineNumber + 1}` : '';
    const name = `${frame.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const rank = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, share: us / total }));
  return { totalMs: total / 1000, functions: rank(functions, top), areas: rank(areas, 15) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
  for (const file of args) {
    const summary = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, top);
    const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;
    console.log(`\n== ${basename(file)}: ${summary.totalMs.toFixed(0)} ms busy (idle excluded)`);
    console.log('-- by area (self time)');
    for (const a of summary.areas)
      console.log(`${pct(a.share)} ${a.ms.toFixed(1).padStart(9)} ms  ${a.name}`);
    console.log('-- top functions (self time)');
    for (const f of summary.functions)
      console.log(`${pct(f.share)} ${f.ms.toFixed(1).padStart(9)} ms  ${f.name}`);
  }
}
