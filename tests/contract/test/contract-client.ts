import { request } from 'node:http';
import { createContractValidator } from '@scanner/api-contract/testing';
import { expect } from 'vitest';

export interface ContractResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

const validator = createContractValidator();

/** `METHOD /path/template STATUS` of every response validated so far (in this file). */
export const observed = new Set<string>();

function parseBody(headers: Headers, text: string): unknown {
  const type = headers.get('content-type') ?? '';
  if (/^application\/([a-z.+-]+\+)?json\b/i.test(type) && text !== '') {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * Asserts that a real response is what the OpenAPI document says this request may get: a
 * documented status, its required headers, its media type, a body matching its schema.
 */
export function expectContract(method: string, url: string, res: ContractResponse): void {
  const path = new URL(url).pathname;
  const op = validator.match(method, path);
  expect(op, `a documented operation for ${method} ${path}`).toBeDefined();
  if (!op) return;
  expect(
    validator.check(op, res),
    `${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`,
  ).toEqual([]);
  observed.add(`${op.method.toUpperCase()} ${op.path} ${res.status}`);
}

/** fetch, then validate the response against the document. */
export async function call(
  method: string,
  url: string,
  init: RequestInit = {},
): Promise<ContractResponse> {
  const res = await fetch(url, { ...init, method });
  const out = {
    status: res.status,
    headers: res.headers,
    body: parseBody(res.headers, await res.text()),
  };
  expectContract(method, url, out);
  return out;
}

export interface RawRequest {
  method: string;
  headers: Record<string, string>;
  /** Written in order; the request is ended after them unless `keepOpen`. */
  chunks: Array<Buffer | string>;
  /** Leave the body unfinished, as a stalled client would. */
  keepOpen?: boolean;
}

/**
 * A request over node:http that takes the answer whenever it comes, even while the body is still
 * being sent or will never be finished (early 413, 408): fetch cannot do that.
 */
export function rawCall(url: string, opts: RawRequest): Promise<ContractResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method, headers: opts.headers, agent: false });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        }
        const text = Buffer.concat(chunks).toString('utf8');
        const out = { status: res.statusCode ?? 0, headers, body: parseBody(headers, text) };
        req.destroy();
        try {
          expectContract(opts.method, url, out);
          resolve(out);
        } catch (err) {
          reject(err);
        }
      });
    });
    // The server may answer and close before the whole body is written: that is the point.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    (async () => {
      for (const chunk of opts.chunks) {
        if (answered || req.destroyed) return;
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      if (!opts.keepOpen) req.end();
    })().catch(() => {});
  });
}

/** A multipart/form-data body with one file part, as a browser would send it. */
export function multipart(content: Buffer | string, filename: string, field = 'file') {
  const boundary = `----contract${Math.random().toString(16).slice(2)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const body = Buffer.concat([
    head,
    Buffer.isBuffer(content) ? content : Buffer.from(content),
    tail,
  ]);
  return { boundary, head, tail, body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Upload through fetch + FormData, like a client library would. */
export function upload(
  baseUrl: string,
  content: Buffer | string,
  filename: string,
  headers: Record<string, string> = {},
) {
  const form = new FormData();
  form.append('file', new Blob([content]), filename);
  return call('POST', `${baseUrl}/api/v1/files`, { body: form, headers });
}
