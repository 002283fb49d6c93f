import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Validator } from '@seriousme/openapi-schema-validator';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountApiDocs, openApiDocument } from './index.js';

describe('openApiDocument', () => {
  it('is a valid OpenAPI 3.1 document whose references all resolve', async () => {
    const validator = new Validator();
    // The validator keeps (and may annotate) what it is given: hand it a copy.
    const result = await validator.validate(
      structuredClone(openApiDocument) as unknown as Record<string, unknown>,
    );
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(() => validator.resolveRefs()).not.toThrow();
  });

  it('gives every operation a unique operationId and a problem+json body for every error', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(openApiDocument.paths)) {
      for (const op of Object.values(item)) {
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        for (const [status, res] of Object.entries(op.responses)) {
          if (Number(status) < 400 || '$ref' in res) continue;
          // SPEC: /health answers its report, with 503, when a dependency is down.
          if (path === '/health' && status === '503') continue;
          expect(Object.keys(res.content ?? {})).toEqual(['application/problem+json']);
        }
      }
    }
  });
});

describe('mountApiDocs', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const app = express();
    mountApiDocs(app);
    app.use((_req, res) => {
      res.status(404).type('text/plain').send('fell through');
    });
    server = createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the document at /openapi.json', async () => {
    const res = await fetch(`${url}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
  });

  it('serves a docs page whose every asset comes from this origin', async () => {
    const res = await fetch(`${url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('data-spec-url="/openapi.json"');
    expect(html).not.toMatch(/<script>|https?:\/\//);

    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(assets).toEqual(
      expect.arrayContaining([
        '/docs/assets/swagger-ui.css',
        '/docs/assets/swagger-ui-bundle.js',
        '/docs/assets/init.js',
      ]),
    );
    for (const asset of assets) {
      const a = await fetch(`${url}${asset}`);
      expect(a.status, asset).toBe(200);
      expect((await a.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
    const init = await (await fetch(`${url}/docs/assets/init.js`)).text();
    expect(init).toContain('validatorUrl: null');
  });

  it('serves no other file from the Swagger UI package', async () => {
    for (const name of [
      'index.html',
      'swagger-initializer.js',
      '..%2Fpackage.json',
      'package.json',
    ]) {
      const res = await fetch(`${url}/docs/assets/${name}`);
      expect(res.status, name).toBe(404);
      expect(await res.text()).toBe('fell through');
    }
  });
});
