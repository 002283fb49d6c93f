import { createServer } from 'node:http';
import { createLogger } from '@scanner/logging';
import { captureLogLines } from '@scanner/logging/testing';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeServer,
  HttpError,
  listen,
  notFoundHandler,
  problemHandler,
  requestContext,
  Shutdown,
  sendJson,
} from '../src/index.js';

const { lines, destination } = captureLogLines();
const log = createLogger({ service: 'test', level: 'debug', destination });

let base: string;
const server = createServer(
  express()
    .use(requestContext(log))
    .get('/teapot', () => {
      throw new HttpError(418, 'teapot', "I'm a teapot", 'short and stout', { 'Retry-After': '1' });
    })
    .get('/boom', () => {
      throw new Error('secret internal detail');
    })
    .get('/infra', () => {
      throw Object.assign(new Error('db gone'), { code: 'DBDOWN' });
    })
    .get('/id', (req, res) => {
      res.json({ id: req.id });
    })
    .get('/json', (_req, res) => {
      sendJson(res, 201, { ok: 'ünïcode' }, { Location: '/json/1' });
    })
    .use(notFoundHandler)
    .use(
      problemHandler((err) =>
        (err as { code?: string }).code === 'DBDOWN'
          ? new HttpError(503, 'database-unavailable', 'Service Unavailable')
          : undefined,
      ),
    ),
);
beforeAll(async () => {
  base = `http://127.0.0.1:${await listen(server, '127.0.0.1', 0)}`;
});
afterAll(async () => {
  await closeServer(server);
});

describe('problem+json errors', () => {
  it('renders an HttpError with its status, code, headers and request id', async () => {
    const res = await fetch(`${base}/teapot`, { headers: { 'x-request-id': 'abc-123' } });
    expect(res.status).toBe(418);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({
      type: 'https://scanner.dev/problems/teapot',
      title: "I'm a teapot",
      status: 418,
      detail: 'short and stout',
      request_id: 'abc-123',
    });
  });

  it('hides unexpected errors behind a generic 500 and logs them with the stack under err', async () => {
    const res = await fetch(`${base}/boom`, { headers: { 'x-request-id': 'boom-1' } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret internal detail');
    expect(text).not.toContain('at ');
    const logged = lines.find((l) => l.msg === 'unhandled error');
    expect(logged?.err).toMatchObject({ message: 'secret internal detail' });
    expect(logged?.service).toBe('test');
    // The request's logger (made on first use) carries its id.
    expect(logged?.requestId).toBe('boom-1');
  });

  it('lets a classifier map infrastructure errors', async () => {
    expect((await fetch(`${base}/infra`)).status).toBe(503);
  });

  it('answers unknown routes with a 404 problem', async () => {
    const res = await fetch(`${base}/missing`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { detail: string }).detail).toBe('no route for GET /missing');
  });

  it('answers a malformed URL with a 400 problem, not an HTML page', async () => {
    const res = await fetch(`${base}/id/%E0%A4%A`);
    expect([400, 404]).toContain(res.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('request ids', () => {
  it('accepts a well-formed X-Request-Id and echoes it', async () => {
    const res = await fetch(`${base}/id`, { headers: { 'x-request-id': 'client.id-42' } });
    expect(res.headers.get('x-request-id')).toBe('client.id-42');
    expect(await res.json()).toEqual({ id: 'client.id-42' });
  });

  it('replaces a missing or unsafe one with a UUID', async () => {
    const variants: Array<Record<string, string>> = [
      {},
      { 'x-request-id': 'bad id with spaces' },
      { 'x-request-id': 'x'.repeat(200) },
    ];
    for (const headers of variants) {
      const res = await fetch(`${base}/id`, { headers });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});

describe('sendJson', () => {
  it('answers like res.json, with the extra headers and the request id kept', async () => {
    const res = await fetch(`${base}/json`, { headers: { 'x-request-id': 'json-1' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('location')).toBe('/json/1');
    expect(res.headers.get('x-request-id')).toBe('json-1');
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('content-length')).toBe(String(body.length));
    expect(JSON.parse(body.toString('utf8'))).toEqual({ ok: 'ünïcode' });
  });
});

describe('Shutdown', () => {
  it('runs every step in order even when one fails, once', async () => {
    const ran: string[] = [];
    const s = new Shutdown(log, 1_000)
      .add('a', () => {
        ran.push('a');
      })
      .add('b', () => {
        throw new Error('b failed');
      })
      .add('c', async () => {
        ran.push('c');
      });
    await Promise.all([s.stop('test'), s.stop('again')]);
    expect(ran).toEqual(['a', 'c']);
    expect(lines.some((l) => l.msg === 'shutdown step failed' && l.step === 'b')).toBe(true);
  });

  it('gives up at the deadline', async () => {
    const s = new Shutdown(log, 50).add('hang', () => new Promise(() => {}));
    const before = process.exitCode;
    await s.stop('test');
    expect(process.exitCode).toBe(1);
    process.exitCode = before;
  });
});
