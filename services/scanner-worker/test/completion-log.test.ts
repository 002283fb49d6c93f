import { setImmediate as nextTurn } from 'node:timers/promises';
import { createLogger } from '@scanner/logging';
import { captureLogLines } from '@scanner/logging/testing';
import { describe, expect, it } from 'vitest';
import { CompletionLog } from '../src/completion-log.js';

function capture() {
  const { lines, destination } = captureLogLines();
  return { lines, log: createLogger({ service: 'test', level: 'info', destination }) };
}

const scan = (n: number) => ({
  sha256: String(n).repeat(64).slice(0, 64),
  jobId: `job-${n}`,
  requestId: `req-${n}`,
  sizeBytes: n,
  jobs: 1,
});

describe('CompletionLog', () => {
  it('writes the scans completed in one turn as one info line carrying every request id', async () => {
    const { lines, log } = capture();
    const completions = new CompletionLog(log);
    completions.add(scan(1));
    completions.add({ ...scan(2), attempt: 2 });
    expect(lines).toHaveLength(0);
    await nextTurn();
    await nextTurn();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'scans completed',
      count: 2,
      scans: [scan(1), { ...scan(2), attempt: 2 }],
    });
    completions.add(scan(3));
    completions.flush(); // on shutdown: nothing waits for the next turn
    expect(lines).toHaveLength(2);
    await nextTurn();
    expect(lines).toHaveLength(2);
  });
});
