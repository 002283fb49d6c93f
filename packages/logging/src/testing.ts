import { Writable } from 'node:stream';

/** A log destination for tests: every JSON line written to it, parsed, in order. */
export function captureLogLines(): {
  lines: Array<Record<string, unknown>>;
  destination: Writable;
} {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}
