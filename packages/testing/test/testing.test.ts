import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, startProcess, TcpProxy, waitFor, waitForHttp } from '../src/index.js';

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

describe('waitForHttp', () => {
  it('gives up in time on a port whose holder accepts and never answers', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const started = Date.now();
    try {
      await expect(waitForHttp(`http://127.0.0.1:${port}/readyz`, 500)).rejects.toThrow(
        /did not answer 200 within 500 ms/,
      );
      // One probe can take its full 2 s bound; never the test's whole timeout.
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      silent.close();
    }
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

describe('TcpProxy stalled', () => {
  it('holds bytes both ways on open and new connections, then delivers them in order on resume', async () => {
    // The far side records what reaches it and talks back only when the test says so, so each
    // direction is checked on its own.
    const serverSides: Socket[] = [];
    const atServer: string[] = [];
    const server = createServer((s) => {
      const i = serverSides.push(s) - 1;
      atServer[i] = '';
      s.on('error', () => {});
      s.on('data', (d) => {
        atServer[i] += String(d);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    const proxy = new TcpProxy('127.0.0.1', typeof addr === 'object' && addr ? addr.port : 0);
    const clients: Socket[] = [];
    const open = () =>
      new Promise<{ received: () => string }>((resolve, reject) => {
        let received = '';
        const c = connect(proxy.port, '127.0.0.1', () => resolve({ received: () => received }));
        c.on('data', (d) => {
          received += String(d);
        });
        c.on('error', reject);
        clients.push(c);
      });
    try {
      await proxy.start();
      const first = await open();
      clients[0]?.write('a');
      await waitFor(() => atServer[0] === 'a', { message: 'a forwarded' });
      serverSides[0]?.write('A');
      await waitFor(() => first.received() === 'A', { message: 'A forwarded' });

      proxy.stall();
      clients[0]?.write('b1');
      clients[0]?.write('b2');
      serverSides[0]?.write('B1');
      serverSides[0]?.write('B2');
      // Opened while stalled: accepted, but held like the others.
      const second = await open();
      clients[1]?.write('c');
      await waitFor(() => serverSides.length === 2, { message: 'upstream of the second' });
      serverSides[1]?.write('C');
      // Proving that nothing arrives needs a wait; 300 ms is ample on loopback.
      await new Promise((r) => setTimeout(r, 300));
      expect(atServer).toEqual(['a', '']);
      expect(first.received()).toBe('A');
      expect(second.received()).toBe('');
      expect(clients.every((c) => !c.destroyed)).toBe(true);

      proxy.resume();
      await waitFor(() => first.received() === 'AB1B2' && second.received() === 'C', {
        message: 'held replies delivered',
      });
      await waitFor(() => atServer[0] === 'ab1b2' && atServer[1] === 'c', {
        message: 'held requests delivered',
      });
      // And it forwards as before.
      clients[0]?.write('d');
      await waitFor(() => atServer[0] === 'ab1b2d', { message: 'd forwarded after resume' });
    } finally {
      proxy.resume();
      for (const c of clients) c.destroy();
      await proxy.cut();
      for (const s of serverSides) s.destroy();
      server.close();
    }
  });
});

describe('TcpProxy severed', () => {
  it('leaves open connections silent and open for good, while new ones work', async () => {
    const echo = createServer((s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const addr = echo.address();
    const proxy = new TcpProxy('127.0.0.1', typeof addr === 'object' && addr ? addr.port : 0);
    const clients: Socket[] = [];
    const open = () =>
      new Promise<{ socket: Socket; received: () => string }>((resolve, reject) => {
        let received = '';
        const socket = connect(proxy.port, '127.0.0.1', () =>
          resolve({ socket, received: () => received }),
        );
        socket.on('data', (d) => {
          received += String(d);
        });
        socket.on('error', reject);
        clients.push(socket);
      });
    try {
      await proxy.start();
      const old = await open();
      old.socket.write('a');
      await waitFor(() => old.received() === 'a', { message: 'echoed before' });

      proxy.sever();
      old.socket.write('b');
      const fresh = await open();
      fresh.socket.write('c');
      await waitFor(() => fresh.received() === 'c', { message: 'a new connection works' });
      // Not even a resume brings the severed one back.
      proxy.stall();
      proxy.resume();
      await new Promise((r) => setTimeout(r, 300));
      expect(old.received()).toBe('a');
      expect(old.socket.destroyed).toBe(false);
    } finally {
      for (const c of clients) c.destroy();
      await proxy.cut();
      echo.close();
    }
  });
});
