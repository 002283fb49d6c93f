import { describe, expect, it } from 'vitest';
import { bestOf, contextFromEnv, gbPerSecond, scenarioResult, sizeFromEnv } from './harness.js';

describe('scenarioResult', () => {
  it('builds the one-line shape with a rounded ratio', () => {
    const line = scenarioResult({
      scenario: 's',
      figures: { a_gbps: 1.5 },
      ceiling: { b_gbps: 2 },
      ratio: 0.755_555,
      target: 0.75,
      verified: true,
    });
    expect(line).toEqual({
      scenario: 's',
      figures: { a_gbps: 1.5 },
      ceiling: { b_gbps: 2 },
      ratio: 0.756,
      target: 0.75,
      pass: true,
      verified: true,
    });
    expect(Object.keys(JSON.parse(JSON.stringify(line)))).toEqual([
      'scenario',
      'figures',
      'ceiling',
      'ratio',
      'target',
      'pass',
      'verified',
    ]);
  });

  it('passes a higher-is-better ratio at or above the target, a lower-is-better one at or below', () => {
    const base = { scenario: 's', figures: {}, ceiling: {}, target: 1, verified: true };
    expect(scenarioResult({ ...base, ratio: 0.999 }).pass).toBe(false);
    expect(scenarioResult({ ...base, ratio: 1 }).pass).toBe(true);
    expect(scenarioResult({ ...base, ratio: 0.5, better: 'lower' }).pass).toBe(true);
    expect(scenarioResult({ ...base, ratio: 1.001, better: 'lower' }).pass).toBe(false);
  });
});

describe('bestOf', () => {
  it('runs each contender the given number of times and keeps the last result', async () => {
    const seen: string[] = [];
    let n = 0;
    const t = await bestOf(3, {
      a: () => {
        seen.push('a');
        return ++n;
      },
      b: async () => {
        seen.push('b');
        return 'x';
      },
    });
    expect(seen).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    expect(t.a.result).toBe(3);
    expect(t.b.result).toBe('x');
    expect(t.a.seconds).toBeGreaterThanOrEqual(0);
  });
});

describe('configuration', () => {
  it('reads runs, directory and sizes from BENCH_* variables', () => {
    expect(contextFromEnv({ BENCH_RUNS: '2', BENCH_DIR: '/data' })).toEqual({
      runs: 2,
      baseDir: '/data',
    });
    expect(contextFromEnv({}).runs).toBe(5);
    expect(sizeFromEnv('SCAN', 1024, { BENCH_SCAN_MB: '64' })).toBe(64 * 2 ** 20);
    expect(sizeFromEnv('SCAN', 1024, {})).toBe(1024 * 2 ** 20);
    expect(() => contextFromEnv({ BENCH_RUNS: 'many' })).toThrow(/BENCH_RUNS/);
  });

  it('quotes throughput in decimal GB/s', () => {
    expect(gbPerSecond(2e9, 1)).toBe(2);
  });
});
