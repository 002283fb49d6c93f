import { spawn } from 'node:child_process';
import { childModuleArgs, onInterrupt } from '../harness.js';
import type { LoadReport, LoadSpec } from './spec.js';

export type { LoadReport, LoadSpec } from './spec.js';

const childArgs = childModuleArgs(import.meta.url, 'loadgen-child');

/**
 * Runs one load in a separate process (the same generator for a ceiling and for the system) and
 * returns its report. Rejects if the generator itself fails; wrong answers are in the report.
 */
export function runLoad(spec: LoadSpec): Promise<LoadReport> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, childArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    const unregister = onInterrupt(() => proc.kill('SIGKILL'));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (b: Buffer) => out.push(b));
    proc.stderr.on('data', (b: Buffer) => err.push(b));
    // A generous bound over the spec's own: a hung server must not hang the bench.
    const killer = setTimeout(() => proc.kill('SIGKILL'), spec.maxMs + 180_000);
    proc.once('error', reject);
    proc.once('close', (code) => {
      clearTimeout(killer);
      unregister();
      if (code !== 0) {
        reject(new Error(`load generator exited ${code}: ${Buffer.concat(err).toString()}`));
        return;
      }
      resolve(JSON.parse(Buffer.concat(out).toString()) as LoadReport);
    });
    proc.stdin.end(JSON.stringify(spec));
  });
}

/** A report's failures as one line, for `figures.errors`. */
export function describeFailures(report: LoadReport): string {
  return report.failed === 0
    ? ''
    : `${report.failed} failed (${JSON.stringify(report.statuses)}): ${report.failures.join(' | ')}`;
}
