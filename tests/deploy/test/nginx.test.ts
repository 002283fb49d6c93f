// The compose edge (infra/nginx/nginx.conf), checked by nginx itself and then run for real in
// front of stub upstreams: routing, streaming uploads, request ids, problem+json errors.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { freePort } from '@scanner/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LocalNginxConf,
  localNginxConf,
  nginxTest,
  type RunningNginx,
  startNginx,
  waitUntilServing,
} from './support/nginx.js';
import {
  type Backend,
  NGINX_CONF,
  nginxLocations,
  nginxUpstreams,
  ROUTE_CASES,
} from './support/routes.js';
import { sharedSetup } from './support/tools.js';

const UPSTREAM_OF: Record<string, Backend> = {
  upload_gateway: 'upload-gateway',
  status_query: 'status-query',
  janitor: 'janitor',
};

interface Seen {
  backend: Backend;
  method: string;
  url: string;
  requestId: string | undefined;
  bodyBytes: number;
}

interface Stub {
  server: Server;
  port: number;
  seen: Seen[];
  /** Called with the running byte count whenever body bytes arrive. */
  onData?: (bytes: number) => void;
}

async function startStub(backend: Backend): Promise<Stub> {
  const stub: Stub = { server: createServer(), port: 0, seen: [] };
  stub.server.on('request', (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      stub.onData?.(bytes);
    });
    req.on('end', () => {
      const seen: Seen = {
        backend,
        method: req.method ?? '',
        url: req.url ?? '',
        requestId: req.headers['x-request-id'] as string | undefined,
        bodyBytes: bytes,
      };
      stub.seen.push(seen);
      // Like the services: echo the id. The edge must not duplicate it.
      if (seen.requestId) res.setHeader('X-Request-Id', seen.requestId);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(seen));
    });
  });
  stub.server.listen(0, '127.0.0.1');
  await once(stub.server, 'listening');
  const addr = stub.server.address();
  stub.port = typeof addr === 'object' && addr ? addr.port : 0;
  return stub;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  port: number,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function expectProblem(answer: Answer, status: number): Record<string, unknown> {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/problem+json');
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^https:\/\//) });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(body.request_id).toBe(answer.headers['x-request-id']);
  expect(answer.body).not.toMatch(/<html|nginx/i);
  return body;
}

describe('edge nginx.conf', () => {
  let stubs: Record<Backend, Stub>;
  let conf: LocalNginxConf;
  let nginx: RunningNginx | undefined;
  let port: number;
  // nginx missing or failing to start fails every test that needs it, with the reason.
  const edge = sharedSetup<void>();

  beforeAll(async () => {
    await edge.run(async () => {
      stubs = {
        'upload-gateway': await startStub('upload-gateway'),
        'status-query': await startStub('status-query'),
        janitor: await startStub('janitor'),
      };
      port = await freePort();
      const upstreamPorts = Object.fromEntries(
        Object.entries(UPSTREAM_OF).map(([upstream, backend]) => [upstream, stubs[backend].port]),
      );
      conf = localNginxConf(upstreamPorts, port);
      nginx = startNginx(conf);
      await waitUntilServing(nginx, `http://127.0.0.1:${port}`);
    });
  });

  afterAll(async () => {
    await nginx?.stop();
    for (const stub of Object.values(stubs ?? {})) {
      stub.server.closeAllConnections();
      stub.server.close();
    }
    conf?.cleanup();
  });

  it('passes `nginx -t`', () => {
    edge.get();
    expect(nginxTest(conf)).toMatch(/syntax is ok[\s\S]*test is successful/);
  });

  it('has an upstream with keep-alive for each HTTP service, at its compose name and port', () => {
    const upstreams = nginxUpstreams();
    expect(Object.fromEntries(upstreams)).toEqual({
      upload_gateway: ['upload-gateway:8001'],
      status_query: ['status-query:8002'],
      janitor: ['janitor:8004'],
    });
    const blocks = [...readFileSync(NGINX_CONF, 'utf8').matchAll(/upstream\s+\w+\s*\{[^}]*\}/g)];
    expect(blocks).toHaveLength(3);
    for (const [block] of blocks) expect(block).toMatch(/keepalive\s+\d+;/);
  });

  it.each(ROUTE_CASES)('$method $path → $backend', async ({ method, path, backend }) => {
    edge.get();
    const before = backend ? stubs[backend].seen.length : 0;
    const answer = await send(port, method, path);
    if (backend === null) {
      expectProblem(answer, 404);
      return;
    }
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.body) as Seen;
    expect(seen).toMatchObject({ backend, method, url: path });
    expect(stubs[backend].seen.length).toBe(before + 1);
  });

  it('exercises every proxying location with at least one route case', () => {
    const proxied = nginxLocations().filter((l) => l.upstream !== null);
    expect(proxied.length).toBeGreaterThan(0);
    for (const loc of proxied) {
      const hit = ROUTE_CASES.some((c) =>
        loc.modifier === '=' ? c.path === loc.path : c.path.startsWith(loc.path),
      );
      expect(hit, `no route case reaches location ${loc.modifier} ${loc.path}`).toBe(true);
    }
  });

  it('keeps a well-formed X-Request-Id, replaces a malformed one, mints one when absent', async () => {
    edge.get();
    const kept = await send(port, 'GET', '/health', {
      headers: { 'X-Request-Id': 'client-id.42:a_b-c' },
    });
    expect(JSON.parse(kept.body).requestId).toBe('client-id.42:a_b-c');
    expect(kept.headers['x-request-id']).toBe('client-id.42:a_b-c');

    const replaced = await send(port, 'GET', '/health', {
      headers: { 'X-Request-Id': 'bad id <script>' },
    });
    const replacedId = JSON.parse(replaced.body).requestId as string;
    expect(replacedId).toMatch(/^[0-9a-f]{32}$/);
    expect(replaced.headers['x-request-id']).toBe(replacedId);

    const minted = await send(port, 'GET', '/health');
    const mintedId = JSON.parse(minted.body).requestId as string;
    expect(mintedId).toMatch(/^[0-9a-f]{32}$/);
    // Exactly one header, the upstream's echo hidden in favour of the edge's.
    expect(minted.headers['x-request-id']).toBe(mintedId);
  });

  it('streams an upload to the gateway before the client has finished sending it', async () => {
    edge.get();
    const gateway = stubs['upload-gateway'];
    const total = 256 * 1024;
    const firstBytesArrived = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error('the gateway saw no byte of a half-sent upload: the edge buffers bodies'),
          ),
        5_000,
      );
      gateway.onData = (bytes) => {
        clearTimeout(timer);
        resolve(bytes);
      };
    });
    const answered = new Promise<Answer>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/v1/files',
          headers: { 'Content-Length': String(total), 'Content-Type': 'application/octet-stream' },
          agent: false,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString('utf8');
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(total / 2, 'a'));
      // The rest is sent only once the gateway has seen bytes: a buffering edge would wait for
      // the whole body first, and this would time out.
      firstBytesArrived.then(
        () => req.end(Buffer.alloc(total / 2, 'b')),
        () => req.destroy(),
      );
    });
    // Awaited below only when the first bytes arrived; never left unhandled.
    answered.catch(() => undefined);
    try {
      expect(await firstBytesArrived).toBeLessThan(total);
      const answer = await answered;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).bodyBytes).toBe(total);
    } finally {
      gateway.onData = undefined;
    }
  });

  it('leaves the upload size to the gateway but caps bodies elsewhere with a problem+json 413', async () => {
    edge.get();
    const big = Buffer.alloc(3 * 1024 * 1024, 'x');
    const upload = await send(port, 'POST', '/api/v1/files', { body: big });
    expect(upload.status).toBe(200);
    expect(JSON.parse(upload.body).bodyBytes).toBe(big.length);

    const elsewhere = await send(port, 'POST', '/admin/cleanup', { body: big });
    expectProblem(elsewhere, 413);
  });

  it('answers a malformed request with a problem+json 400', async () => {
    edge.get();
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.end('GET /health HTTP/1.1\r\nHost: edge\r\nBroken header line\r\n\r\n');
    let raw = '';
    socket.on('data', (b: Buffer) => {
      raw += b.toString('utf8');
    });
    await once(socket, 'close');
    const [head = '', body = ''] = raw.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(body)).toMatchObject({ status: 400, title: 'Bad Request' });
  });

  it('answers for a service that is down with a problem+json 502 and Retry-After', async () => {
    edge.get();
    const janitor = stubs.janitor;
    janitor.server.closeAllConnections();
    janitor.server.close();
    await once(janitor.server, 'close');
    const answer = await send(port, 'GET', '/admin/cleanup', {
      headers: { 'X-Request-Id': 'down-1' },
    });
    const problem = expectProblem(answer, 502);
    expect(problem.request_id).toBe('down-1');
    expect(answer.headers['retry-after']).toBe('5');
  });

  it('logs one JSON line per request, carrying the request id', () => {
    edge.get();
    const lines = (nginx?.output() ?? '').split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('request_id');
    expect(lines.some((l) => JSON.parse(l).request_id === 'down-1')).toBe(true);
  });
});
