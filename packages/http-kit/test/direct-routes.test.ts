import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@scanner/logging';
import { captureLogLines } from '@scanner/logging/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeServer,
  createServiceApp,
  HttpError,
  listen,
  Registry,
  sendJson,
  withDirectRoutes,
} from '../src/index.js';

// A direct route answers like an express route of the same app would: request id, duration
// metric, problem+json for what it throws; anything else falls through to the express app.
const { lines, destination } = captureLogLines();
const log = createLogger({ service: 'direct', level: 'debug', destination });
const registry = new Registry();
const options = {
  log,
  registry,
  lifecycle: { shuttingDown: false },
  checkReady: async () => ({ ok: true }),
  classifyError: (err: unknown) =>
    (err as { code?: string }).code === 'DBDOWN'
      ? new HttpError(503, 'database-unavailable', 'Service Unavailable', 'down', {
          'Retry-After': '5',
        })
      : undefined,
};
const app = createServiceApp(options, (a) => {
  a.get('/things', (_req, res) => {
    res.json({ via: 'express' });
  });
});
const listener = withDirectRoutes(app, options, [
  {
    method: 'POST',
    path: '/things',
    async handle(req, res) {
      const what = req.headers['x-what'];
      if (what === 'teapot') throw new HttpError(418, 'teapot', "I'm a teapot", 'short and stout');
      if (what === 'db') throw Object.assign(new Error('db gone'), { code: 'DBDOWN' });
      if (what === 'boom') throw new Error('secret internal detail');
      req.log.info('handled directly');
      sendJson(res, 201, { via: 'direct', id: req.id, url: req.url });
    },
  },
]);

let base: string;
const server = createServer(listener);
beforeAll(async () => {
  base = `http://127.0.0.1:${await listen(server, '127.0.0.1', 0)}`;
});
afterAll(async () => {
  await closeServer(server);
});

const post = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers, body: 'x' });

describe('withDirectRoutes', () => {
  it('serves its route as express would match it: any case, trailing slash, query string', async () => {
    for (const path of ['/things', '/things/', '/THINGS', '/things?x=1']) {
      const res = await post(path, { 'x-request-id': 'direct-1' });
      expect(res.status).toBe(201);
      expect(res.headers.get('x-request-id')).toBe('direct-1');
      expect(await res.json()).toMatchObject({ via: 'direct', id: 'direct-1', url: path });
    }
    const logged = lines.find((l) => l.msg === 'handled directly');
    expect(logged?.requestId).toBe('direct-1');
  });

  it('routes an absolute-form request line by its path', async () => {
    const { port } = server.address() as AddressInfo;
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: `http://127.0.0.1:${port}/things?x=1` },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end('x');
    });
    expect(answer.status).toBe(201);
    expect(JSON.parse(answer.body)).toMatchObject({ via: 'direct' });
  });

  it('leaves every other method and path to the express app, 404 included', async () => {
    const get = await fetch(`${base}/things`);
    expect(await get.json()).toEqual({ via: 'express' });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const other = await post('/things/more');
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers what the handler throws as problem+json, classified like the app does', async () => {
    const teapot = await post('/things', { 'x-what': 'teapot', 'x-request-id': 't-1' });
    expect(teapot.status).toBe(418);
    expect(teapot.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(await teapot.json()).toEqual({
      type: 'https://scanner.dev/problems/teapot',
      title: "I'm a teapot",
      status: 418,
      detail: 'short and stout',
      request_id: 't-1',
    });
    const db = await post('/things', { 'x-what': 'db' });
    expect(db.status).toBe(503);
    expect(db.headers.get('retry-after')).toBe('5');
    const boom = await post('/things', { 'x-what': 'boom' });
    expect(boom.status).toBe(500);
    expect(await boom.text()).not.toContain('secret internal detail');
    expect(lines.find((l) => l.msg === 'unhandled error')?.err).toMatchObject({
      message: 'secret internal detail',
    });
  });

  it('times direct requests under their route in the same histogram as express routes', async () => {
    await post('/things/');
    await fetch(`${base}/things`);
    const text = await registry.metrics();
    expect(text).toMatch(
      /scanner_http_request_duration_seconds_count\{method="POST",route="\/things",status_code="201"\} [1-9]/,
    );
    expect(text).toMatch(
      /scanner_http_request_duration_seconds_count\{method="GET",route="\/things",status_code="200"\} [1-9]/,
    );
  });
});
