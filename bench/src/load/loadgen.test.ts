import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSalt } from './content.js';
import { type LoadSpec, runLoad } from './loadgen.js';

// The generator is what says a run verified: it must count right answers, and name wrong ones.
// The server answers like a ceiling (the raw body's digest and size); `x-fault` in the query makes
// it answer wrongly for the request whose file name carries that index.
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const hash = createHash('sha256');
    let size = 0;
    let head = '';
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
      if (head.length < 512) head += chunk.toString('latin1');
    });
    req.on('end', () => {
      const fault = new URL(req.url ?? '/', 'http://x').searchParams.get('fault');
      const index = /filename="bench-[^-]+-(\d+)\.bin"/.exec(head)?.[1];
      const faulty = fault !== null && index === fault.split(':')[1];
      if (faulty && fault.startsWith('status')) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"title":"boom"}');
        return;
      }
      const sha256 = faulty ? '0'.repeat(64) : hash.digest('hex');
      res.writeHead(200, { 'content-type': 'application/json' });
      // Chunked on purpose for one request in two: the generator must read both framings.
      if (size % 2 === 0) res.write('');
      res.end(JSON.stringify({ job_id: 'j', sha256, file_size: size }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/upload`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const spec = (over: Partial<LoadSpec> = {}): LoadSpec => ({
  url,
  concurrency: 8,
  count: 200,
  maxMs: 30_000,
  warmup: 16,
  content: { bytes: 1024, salt: newSalt(), mode: 'unique', body: 'memory' },
  expect: { status: [200], sha256: 'body' },
  ...over,
});

describe('the load generator', () => {
  it('sends every request, checks every answer, and reports the rate and latencies', async () => {
    const report = await runLoad(spec());
    expect(report).toMatchObject({ sent: 216, requests: 200, ok: 200, failed: 0, failures: [] });
    expect(report.statuses).toEqual({ 200: 216 });
    expect(report.perSecond).toBeGreaterThan(0);
    expect(report.p50Ms).toBeLessThanOrEqual(report.p99Ms);
    expect(report.contentBytes).toBe(200 * 1024);
  });

  it('streams bodies built as they are sent, with the same answers', async () => {
    const report = await runLoad(
      spec({ content: { bytes: 3 * 1024 * 1024, salt: newSalt(), mode: 'same', body: 'stream' } }),
    );
    expect(report).toMatchObject({ ok: 200, failed: 0 });
  });

  it('counts a wrong digest as a failure and says which request and why', async () => {
    const report = await runLoad(spec({ url: `${url}?fault=sha:100` }));
    expect(report).toMatchObject({ ok: 199, failed: 1 });
    expect(report.failures).toEqual([
      expect.stringMatching(/^#100: sha256 0{64}, expected [0-9a-f]{64}$/),
    ]);
  });

  it('counts an unexpected status as a failure, with the answer', async () => {
    const report = await runLoad(spec({ url: `${url}?fault=status:50` }));
    expect(report).toMatchObject({ ok: 199, failed: 1 });
    expect(report.statuses).toEqual({ 200: 215, 500: 1 });
    expect(report.failures).toEqual(['#50: status 500: {"title":"boom"}']);
  });

  it('paces each lane when asked: five requests 100 ms apart take at least 400 ms', async () => {
    const report = await runLoad(spec({ concurrency: 1, count: 5, warmup: 0, paceMs: 100 }));
    expect(report).toMatchObject({ ok: 5, failed: 0 });
    expect(report.seconds).toBeGreaterThanOrEqual(0.4);
  });

  it('counts a refused connection as failed requests, not as answers', async () => {
    const report = await runLoad(spec({ url: 'http://127.0.0.1:1/upload', count: 10, warmup: 0 }));
    expect(report).toMatchObject({ ok: 0, failed: 10 });
    expect(report.failures[0]).toMatch(/request failed: .*ECONNREFUSED/);
  });
});
