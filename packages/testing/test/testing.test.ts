import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, startProcess, TcpProxy, waitFor } from '../src/index.js';

describe('waitFor', () => {
  it('returns the first truthy value and fails with the last error after the timeout', async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? n : undefined), { intervalMs: 1 })).toBe(3);
    await expect(
      waitFor(
        () => {
          throw new Error('not yet');
        },
        { timeoutMs: 30, intervalMs: 5, message: 'never' },
      ),
    ).rejects.toThrow(/timed out after 30 ms waiting for never/);
  });
});

describe('processes', () => {
  it('captures output and exit codes, and stops with SIGTERM', async () => {
    const p = startProcess(
      'echo',
      process.execPath,
      ['-e', 'console.log("hello"); setInterval(() => {}, 1000)'],
      process.env,
    );
    await waitFor(() => p.output().includes('hello'));
    expect(await p.stop(5_000)).toBe('SIGTERM');
  });
});

describe('TcpProxy', () => {
  it('passes bytes through, refuses while cut, and works again once restarted', async () => {
    const port = await freePort();
    const echo = createServer((s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(port, '127.0.0.1', () => r()));
    const proxy = new TcpProxy('127.0.0.1', port);
    const roundTrip = async () => {
      const { connect } = await import('node:net');
      return new Promise<string>((resolve, reject) => {
        const c = connect(proxy.port, '127.0.0.1', () => c.write('ping'));
        c.on('data', (d) => {
          resolve(String(d));
          c.destroy();
        });
        c.on('error', reject);
      });
    };
    try {
      await proxy.start();
      expect(await roundTrip()).toBe('ping');
      await proxy.cut();
      await expect(roundTrip()).rejects.toThrow(/ECONNREFUSED/);
      await proxy.start();
      expect(await roundTrip()).toBe('ping');
    } finally {
      await proxy.cut();
      echo.close();
    }
  });
});
