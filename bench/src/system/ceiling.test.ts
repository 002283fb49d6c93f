import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentBuffer, expectedCounts, newSalt, sha256Hex } from '../load/content.js';
import { type LoadSpec, runLoad } from '../load/loadgen.js';
import { startCeiling } from './ceiling.js';
import { BenchEnvironment } from './stack.js';

// A ceiling is only worth comparing against if it does the work it claims and answers what the
// load generator verifies; each mode is driven here by the generator the scenarios use.
let dir: string;
let env: BenchEnvironment;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-ceiling-test-'));
  env = await BenchEnvironment.create(dir);
});

afterAll(async () => {
  await env?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const load = (url: string, over: Partial<LoadSpec>): LoadSpec => ({
  url,
  concurrency: 4,
  count: 40,
  maxMs: 30_000,
  warmup: 4,
  content: { bytes: 1024, salt: newSalt(), mode: 'unique', body: 'memory' },
  expect: { status: [202], sha256: 'body' },
  ...over,
});

describe('ceiling servers', () => {
  it('minimal: stores each body at its content address and records one row and one stream entry', async () => {
    const ceiling = await startCeiling(env, 'minimal');
    try {
      const report = await runLoad(load(ceiling.url, {}));
      expect(report.failures).toEqual([]);
      expect(report.ok).toBe(40);
      expect(await ceiling.recorded()).toEqual({ rows: 44, entries: 44 });
    } finally {
      await ceiling.stop();
    }
    // 44 contents in fan-out folders, no temp file left.
    const volume = `${env.storageRoot}-ceiling`;
    const top = (await readdir(volume)).filter((name) => name !== '.tmp');
    let stored = 0;
    for (const a of top)
      for (const b of await readdir(join(volume, a)))
        stored += (await readdir(join(volume, a, b))).length;
    expect(stored).toBe(44);
    expect(await readdir(join(volume, '.tmp'))).toEqual([]);
  });

  it('answer: gives every request the canned answer with a job id of its own, as a known upload gets', async () => {
    const salt = newSalt();
    const results = expectedCounts(1024);
    const ceiling = await startCeiling(env, 'answer', {
      status: 'completed',
      deduplication: true,
      results,
      sha256: sha256Hex([contentBuffer({ bytes: 1024, salt }, 0)]),
      file_size: 1024,
    });
    try {
      const report = await runLoad(
        load(ceiling.url, {
          content: { bytes: 1024, salt, mode: 'same', body: 'memory' },
          reprDigest: true,
          returnJobs: true,
          expect: { status: [200], sha256: 'content', deduplication: true, results },
        }),
      );
      expect(report.failures).toEqual([]);
      expect(report.ok).toBe(40);
      expect(new Set(report.jobs?.map((job) => job.jobId)).size).toBe(40);
    } finally {
      await ceiling.stop();
    }
  });

  it('answer: a different canned answer fails verification (the generator checks what it gets)', async () => {
    const ceiling = await startCeiling(env, 'answer', {
      status: 'completed',
      deduplication: true,
      results: expectedCounts(1024),
      sha256: '0'.repeat(64),
      file_size: 1024,
    });
    try {
      const report = await runLoad(
        load(ceiling.url, {
          content: { bytes: 1024, salt: newSalt(), mode: 'same', body: 'memory' },
          expect: { status: [200], sha256: 'content', deduplication: true },
        }),
      );
      expect(report.ok).toBe(0);
      // Warm-up requests included: every one was answered wrongly.
      expect(report.failed).toBe(44);
      expect(report.failures.join('\n')).toMatch(/sha256/);
    } finally {
      await ceiling.stop();
    }
  });
});
