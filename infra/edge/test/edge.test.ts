import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { freePort } from '@scanner/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_ROUTES } from '../src/routes.js';
import { MiB, type RunningEdge, type StubUpstream, startEdge, stubUpstream } from './harness.js';

let gateway: StubUpstream;
let status: StubUpstream;
let janitor: StubUpstream;
let edge: RunningEdge;
/** An edge whose janitor is down (nothing listens on its port) and whose status-query is no HTTP. */
let broken: RunningEdge;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeAll(async () => {
  [gateway, status, janitor] = await Promise.all([
    stubUpstream('gateway', 1024 * MiB),
    stubUpstream('status'),
    stubUpstream('janitor'),
  ]);
  [edge, broken] = await Promise.all([
    startEdge({
      UPLOAD_GATEWAY_URL: gateway.url,
      STATUS_QUERY_URL: status.url,
      JANITOR_URL: janitor.url,
    }),
    startEdge({
      UPLOAD_GATEWAY_URL: gateway.url,
      STATUS_QUERY_URL: `${status.url}/garbage-only`,
      JANITOR_URL: `http://127.0.0.1:${await freePort()}`,
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([edge?.proc.stop(), broken?.proc.stop()]);
  await Promise.all([gateway?.close(), status?.close(), janitor?.close()]);
});

async function json(res: Response) {
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

describe('routing', () => {
  it('each route reaches its upstream, path and query unchanged', async () => {
    const cases: Array<[string, string, string]> = [
      ['POST', '/api/v1/files', 'gateway'],
      ['GET', '/api/v1/files/1b4e28ba-2fa1-11d2-883f-0016d3cca427?x=1&y=%20', 'status'],
      ['GET', '/api/v1/hashes/abc', 'status'],
      ['GET', '/health', 'status'],
      ['GET', '/openapi.json', 'status'],
      ['GET', '/docs/', 'status'],
      ['POST', '/admin/cleanup', 'janitor'],
    ];
    for (const [method, path, upstream] of cases) {
      const res = await fetch(`${edge.url}${path}`, {
        method,
        ...(method === 'POST' ? { body: 'hello' } : {}),
      });
      expect([method, path, res.status], await res.clone().text()).toEqual([method, path, 200]);
      const body = (await res.json()) as { upstream: string; url?: string };
      expect(body.upstream, `${method} ${path}`).toBe(upstream);
      if (method === 'GET') expect(body.url).toBe(path);
    }
  });

  it('HEAD is routed where GET is', async () => {
    const res = await fetch(`${edge.url}/health`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(status.seen.at(-1)?.method).toBe('HEAD');
  });

  it('unknown paths and unrouted methods: 404 problem JSON, the body drained', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['GET', '/api/v1/filesystem'],
      ['DELETE', '/api/v1/files/x'],
      ['PUT', '/api/v1/files'],
      ['GET', '/admin/cleanup'],
      ['POST', '/health'],
    ] as const) {
      const res = await fetch(`${edge.url}${path}`, {
        method,
        ...(method === 'PUT' || method === 'POST' ? { body: randomBytes(MiB) } : {}),
      });
      expect(await json(res)).toEqual({
        status: 404,
        type: 'application/problem+json',
        body: {
          type: 'https://scanner.dev/problems/not-found',
          title: 'Not Found',
          status: 404,
          detail: `no route for ${method} ${path}`,
        },
      });
    }
  });

  it('every route in EDGE_ROUTES is served (no route shadowed by another)', async () => {
    for (const route of EDGE_ROUTES) {
      for (const method of route.methods) {
        const res = await fetch(`${edge.url}${route.prefix}/x`, { method });
        expect(res.status, `${method} ${route.prefix}`).toBe(200);
        if (method !== 'HEAD') {
          expect(((await res.json()) as { upstream: string }).upstream).toBe(route.upstream);
        }
      }
    }
  });

  it('a malformed request: 400 problem JSON, connection closed', async () => {
    const { hostname, port } = new URL(edge.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => {
        text += c;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('application/problem+json');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
      status: 400,
      title: 'Bad Request',
    });
  });

  it('/edge/healthz answers by itself', async () => {
    expect(await json(await fetch(`${edge.url}/edge/healthz`))).toEqual({
      status: 200,
      type: 'application/json',
      body: { status: 'ok' },
    });
  });
});

describe('upstream failures', () => {
  it('an upstream that is down: 503 problem JSON', async () => {
    const res = await fetch(`${broken.url}/admin/cleanup`, { method: 'POST', body: 'x' });
    expect(await json(res)).toEqual({
      status: 503,
      type: 'application/problem+json',
      body: {
        type: 'https://scanner.dev/problems/service-unavailable',
        title: 'Service Unavailable',
        status: 503,
        detail: 'the janitor service is not reachable',
      },
    });
  });

  it('an upstream that answers something other than HTTP: 502 problem JSON', async () => {
    const res = await fetch(`${broken.url}/health`);
    expect(await json(res)).toMatchObject({
      status: 502,
      type: 'application/problem+json',
      body: { title: 'Bad Gateway', status: 502 },
    });
  });

  it('the same upstream, back up: served again', async () => {
    const res = await fetch(`${broken.url}/api/v1/files`, { method: 'POST', body: 'back' });
    expect(res.status).toBe(200);
  });
});

describe('request ids', () => {
  it("the client's X-Request-Id is forwarded upstream", async () => {
    const res = await fetch(`${edge.url}/api/v1/hashes/abc`, {
      headers: { 'x-request-id': 'client-chosen-42' },
    });
    expect(((await res.json()) as { request_id: string }).request_id).toBe('client-chosen-42');
  });

  it('without one, the edge makes a UUID and forwards it', async () => {
    const a = (await (await fetch(`${edge.url}/health`)).json()) as { request_id: string };
    const b = (await (await fetch(`${edge.url}/health`)).json()) as { request_id: string };
    expect(a.request_id).toMatch(UUID);
    expect(b.request_id).toMatch(UUID);
    expect(a.request_id).not.toBe(b.request_id);
  });

  it("the edge's own answers carry it", async () => {
    const mine = await fetch(`${edge.url}/nope`, { headers: { 'x-request-id': 'mine-7' } });
    expect(mine.headers.get('x-request-id')).toBe('mine-7');
    const made = await fetch(`${broken.url}/admin/cleanup`, { method: 'POST' });
    expect(made.headers.get('x-request-id')).toMatch(UUID);
  });
});

describe('streaming and pooling', () => {
  it('a 64 MiB upload streams through unchanged; the upstream sees it before the client ends', async () => {
    const chunk = randomBytes(MiB);
    const hash = createHash('sha256');
    const before = gateway.bodyBytes;
    const answer = new Promise<{ size: number; sha256: string }>((resolve, reject) => {
      const req = request(`${edge.url}/api/v1/files`, {
        method: 'POST',
        headers: { 'content-length': String(64 * MiB) },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve(JSON.parse(text)));
      });
      req.on('error', reject);
      (async () => {
        for (let i = 0; i < 64; i++) {
          hash.update(chunk);
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          // Not buffered at the edge: half-way, the upstream already has most of it.
          if (i === 32) {
            const deadline = Date.now() + 10_000;
            while (gateway.bodyBytes - before < 16 * MiB && Date.now() < deadline) {
              await new Promise((r) => setTimeout(r, 10));
            }
            expect(gateway.bodyBytes - before).toBeGreaterThanOrEqual(16 * MiB);
          }
        }
        req.end();
      })().catch(reject);
    });
    expect(await answer).toEqual({
      upstream: 'gateway',
      size: 64 * MiB,
      sha256: hash.digest('hex'),
      request_id: expect.stringMatching(UUID),
    });
  });

  it('a 64 MiB answer streams back unchanged', async () => {
    const res = await fetch(`${edge.url}/api/v1/files/big?mib=64`);
    let size = 0;
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) size += c.length;
    expect([res.status, size]).toEqual([200, 64 * MiB]);
  });

  it('upstream connections are kept alive and reused', async () => {
    const before = status.connections;
    for (let i = 0; i < 30; i++) {
      // A new client connection each time, `Connection: close` even: the pool still holds.
      const res = await fetch(`${edge.url}/health`, { headers: { connection: 'close' } });
      await res.arrayBuffer();
    }
    expect(status.connections - before).toBeLessThanOrEqual(1);
  });
});

describe('shutdown', () => {
  it('SIGTERM: a request in flight is answered, then the edge exits 0', async () => {
    const own = await startEdge({
      UPLOAD_GATEWAY_URL: gateway.url,
      STATUS_QUERY_URL: status.url,
      JANITOR_URL: janitor.url,
    });
    const seen = status.seen.length;
    const inFlight = fetch(`${own.url}/health/slow`);
    while (status.seen.length === seen) await new Promise((r) => setTimeout(r, 10));
    own.proc.child.kill('SIGTERM');
    const res = await inFlight;
    expect([res.status, await res.json()]).toEqual([200, { upstream: 'status', slow: true }]);
    expect(await own.proc.exited).toBe(0);
    await expect(fetch(`${own.url}/edge/healthz`)).rejects.toThrow();
  });
});
