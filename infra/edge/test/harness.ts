import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, type ServiceProcess, startProcess, waitForHttp } from '@scanner/testing';
import { type LocalEdge, startLocalEdge } from '../src/nginx.js';

export const MiB = 1024 * 1024;

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface StubUpstream {
  name: string;
  url: string;
  /** Requests received, in order. */
  seen: Seen[];
  /** TCP connections accepted so far. */
  connections: number;
  /** Bytes of request bodies received so far (all requests). */
  bodyBytes: number;
  close(): Promise<void>;
}

/**
 * A real HTTP server standing in for an upstream service. It behaves like the upload gateway where
 * the edge cares:
 * - `POST` with `Content-Length` over `limit`: 413 at once, before reading the body (the rest is
 *   drained, as the gateway does); with `Repr-Digest`: 200 at once (a digest hit);
 * - `POST …?stream-limit`: reads up to `limit` bytes, then answers 413 mid-body (a query, so the
 *   upload route of either edge takes it);
 * - `POST` otherwise: reads the whole body, answers its size and SHA-256;
 * - `GET …/big?mib=N`: streams N MiB back;
 * - `GET …/slow`: answers after 700 ms;
 * - `GET /garbage…`: answers something that is not HTTP;
 * - anything else: 200 with what it saw (`upstream`, `method`, `url`, `request_id`).
 */
export async function stubUpstream(name: string, limit = 16 * MiB): Promise<StubUpstream> {
  const stub: StubUpstream = {
    name,
    url: '',
    seen: [],
    connections: 0,
    bodyBytes: 0,
    close: async () => {},
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const server: Server = createServer((req, res) => {
    stub.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.on('data', (c: Buffer) => {
      stub.bodyBytes += c.length;
    });
    const path = (req.url ?? '').split('?')[0];
    const declared = Number(req.headers['content-length'] ?? 0);
    if (req.method === 'POST' && req.headers['repr-digest']) {
      req.resume();
      return json(res, 200, { upstream: name, deduplication: true });
    }
    if (req.method === 'POST' && declared > limit) {
      req.resume();
      return json(res, 413, { upstream: name, title: 'Payload Too Large' });
    }
    if (req.method === 'POST' && (req.url ?? '').endsWith('?stream-limit')) {
      let got = 0;
      const onData = (c: Buffer) => {
        got += c.length;
        if (got > limit) {
          req.off('data', onData);
          json(res, 413, { upstream: name, title: 'Payload Too Large', read: got });
        }
      };
      req.on('data', onData);
      req.on('end', () => {
        if (got <= limit) json(res, 200, { upstream: name, size: got });
      });
      return;
    }
    if (req.method === 'POST') {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      req.on('end', () =>
        json(res, 200, {
          upstream: name,
          size,
          sha256: hash.digest('hex'),
          request_id: req.headers['x-request-id'],
        }),
      );
      return;
    }
    if (path?.endsWith('/big')) {
      const mib = Number(new URL(req.url ?? '', 'http://x').searchParams.get('mib'));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(MiB, 'q');
      let sent = 0;
      const pump = () => {
        while (sent < mib) {
          sent++;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    if (path?.endsWith('/slow')) {
      setTimeout(() => json(res, 200, { upstream: name, slow: true }), 700);
      return;
    }
    if (path?.startsWith('/garbage')) {
      req.socket.end('this is not HTTP\r\n\r\n');
      return;
    }
    json(res, 200, {
      upstream: name,
      method: req.method,
      url: req.url,
      request_id: req.headers['x-request-id'],
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    stub.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stub.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return stub;
}

export interface RunningEdge {
  url: string;
  port: number;
  proc: ServiceProcess;
}

/**
 * The compose stack's nginx.conf run locally (`src/nginx.ts`), every upstream at `upstream`. nginx
 * missing fails the test with what to install: these checks never pass by being skipped.
 */
export async function startNginxEdge(upstream: string): Promise<LocalEdge> {
  const address = new URL(upstream).host;
  return startLocalEdge({
    upstreams: { upload_gateway: address, status_query: address, janitor: address },
    host: '127.0.0.1',
    port: await freePort(),
  });
}

/** The edge as its own process, from its TypeScript sources, configured by environment only. */
export async function startEdge(env: Record<string, string>): Promise<RunningEdge> {
  const port = await freePort();
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const proc = startProcess(
    'edge',
    process.execPath,
    ['--conditions=@scanner/source', '--import', 'tsx', main],
    { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/edge/healthz`, 30_000, proc);
  return { url, port, proc };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Body bytes written before the answer arrived. */
  sentBeforeAnswer: number;
  /** Body bytes written in all. */
  sent: number;
  /** With `keepWriting`: the error that ended writing the body, if any. */
  writeError?: NodeJS.ErrnoException;
}

export interface SendOptions {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** The body's size (its Content-Length); written in 64 KiB chunks. */
  bodyBytes: number;
  /** Ask for the connection to be kept (default: `Connection: close`, as curl or a one-shot client). */
  keepAlive?: boolean;
  /** Stop writing (without finishing the body) after this many bytes. */
  stallAfter?: number;
  /**
   * Write the whole body even after the answer came, as many simple clients do (they read only
   * once they have sent everything); default: stop writing on the answer.
   */
  keepWriting?: boolean;
}

const CHUNK = Buffer.alloc(64 * 1024, 'x');

/**
 * An HTTP/1.1 client on a bare TCP connection, so a test controls exactly what is written when
 * and sees exactly what the server does with the connection (node's client stops writing once an
 * answer to a `Connection: close` request has ended, and fetch cannot read an answer early).
 */
export class RawConnection {
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  /** The first socket error (EPIPE, ECONNRESET, …). */
  error: NodeJS.ErrnoException | undefined;
  /** The server has closed its side. */
  ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      this.#notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#notify();
    });
    socket.on('error', (err) => {
      this.error ??= err;
      this.#notify();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#notify();
        resolve();
      }),
    );
  }

  static open(baseUrl: string): Promise<RawConnection> {
    const { hostname, port } = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #until<T>(probe: () => T | undefined): Promise<T> {
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (this.ended || this.socket.destroyed) {
        throw this.error ?? Object.assign(new Error('connection closed'), { code: 'ECLOSED' });
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** The next answer on this connection (with a Content-Length body). */
  async readAnswer(): Promise<Omit<RawAnswer, 'sentBeforeAnswer' | 'sent'>> {
    const end = await this.#until(() => {
      const i = this.#buf.indexOf('\r\n\r\n');
      return i < 0 ? undefined : i;
    });
    const [statusLine = '', ...lines] = this.#buf.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const total = end + 4 + length;
    await this.#until(() => (this.#buf.length >= total ? true : undefined));
    const body = this.#buf.subarray(end + 4, total).toString('utf8');
    this.#buf = this.#buf.subarray(total);
    return { status: Number(statusLine.split(' ')[1]), headers, body };
  }

  /** Sends one request, its body as `opts` says, and reads its answer. */
  async send(opts: SendOptions): Promise<RawAnswer> {
    const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`);
    this.socket.write(
      `${opts.method ?? 'POST'} ${opts.path} HTTP/1.1\r\nhost: edge.test\r\n` +
        'content-type: application/octet-stream\r\n' +
        `content-length: ${opts.bodyBytes}\r\n${opts.keepAlive ? '' : 'connection: close\r\n'}` +
        `${extra.join('')}\r\n`,
    );
    let sent = 0;
    let answered = false;
    const answer = this.readAnswer().then((a) => {
      answered = true;
      return { ...a, sentBeforeAnswer: sent, sent };
    });
    answer.catch(() => {});
    const writing = (async () => {
      while (sent < opts.bodyBytes && !(answered && !opts.keepWriting)) {
        if (opts.stallAfter !== undefined && sent >= opts.stallAfter) return;
        if (this.error || this.socket.destroyed) throw this.error ?? new Error('destroyed');
        const n = Math.min(CHUNK.length, opts.bodyBytes - sent);
        sent += n;
        if (!this.socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          await Promise.race([once(this.socket, 'drain'), this.closed]);
        }
      }
      if (this.error) throw this.error;
    })();
    if (!opts.keepWriting) {
      writing.catch(() => {});
      return answer;
    }
    const writeError = await writing.then(
      () => undefined,
      (err: NodeJS.ErrnoException) => err,
    );
    return { ...(await answer), sent, ...(writeError ? { writeError } : {}) };
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One request on a connection of its own. */
export async function sendBody(baseUrl: string, opts: SendOptions): Promise<RawAnswer> {
  const conn = await RawConnection.open(baseUrl);
  try {
    return await conn.send(opts);
  } finally {
    conn.close();
  }
}
