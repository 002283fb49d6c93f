import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { waitFor } from '@scanner/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, type GatewayUnderTest, startGateway, tempFiles } from './gateway-context.js';
import { BOUNDARY, multipart, post, type RawResponse, upload } from './http-client.js';

const LIMIT_BYTES = 1024 * 1024;

let gw: GatewayUnderTest;
beforeAll(async () => {
  gw = await startGateway({ MAX_FILE_SIZE_MB: '1', UPLOAD_TIMEOUT_SECONDS: '0.5' });
});
afterAll(async () => {
  await gw?.close();
});

const form = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

function expectProblem(res: RawResponse, status: number, code: string) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, type: expect.stringMatching(new RegExp(`${code}$`)) });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
}

async function expectNothingKept(before: { files: number; jobs: number }) {
  expect(await countRows(gw.ctx)).toEqual(before);
  // Cleanup runs as the request unwinds; give it the moment it needs, without a fixed sleep.
  await waitFor(async () => (await tempFiles(gw.ctx.storageRoot)).length === 0, {
    message: 'temp files removed',
  });
}

describe('bad input is refused with problem+json and leaves nothing behind', () => {
  it('no content type → 400', async () => {
    expectProblem(await post(`${gw.url}/api/v1/files`, Buffer.from('x'), {}), 400, 'not-multipart');
  });

  it('a content type other than multipart/form-data → 415', async () => {
    expectProblem(
      await post(`${gw.url}/api/v1/files`, Buffer.from('{}'), {
        'content-type': 'application/json',
      }),
      415,
      'unsupported-media-type',
    );
  });

  it('multipart without a boundary → 400', async () => {
    expectProblem(
      await post(`${gw.url}/api/v1/files`, Buffer.from('x'), {
        'content-type': 'multipart/form-data',
      }),
      400,
      'malformed-multipart',
    );
  });

  it('a truncated multipart body → 400', async () => {
    const before = await countRows(gw.ctx);
    const body = multipart([{ name: 'file', filename: 'a.txt', content: 'abc' }]).subarray(0, 80);
    expectProblem(await post(`${gw.url}/api/v1/files`, body, form), 400, 'malformed-multipart');
    await expectNothingKept(before);
  });

  it('no file part → 400', async () => {
    expectProblem(
      await post(`${gw.url}/api/v1/files`, multipart([{ name: 'note', content: 'hi' }]), form),
      400,
      'missing-file',
    );
  });

  it('"file" sent as a plain field → 400', async () => {
    const body = multipart([{ name: 'file', content: 'not a file part' }]);
    expectProblem(await post(`${gw.url}/api/v1/files`, body, form), 400, 'malformed-multipart');
  });

  it('more than one file part → 400', async () => {
    const before = await countRows(gw.ctx);
    const body = multipart([
      { name: 'file', filename: 'a.txt', content: 'first file' },
      { name: 'file', filename: 'b.txt', content: 'second file' },
    ]);
    expectProblem(await post(`${gw.url}/api/v1/files`, body, form), 400, 'malformed-multipart');
    await expectNothingKept(before);
  });

  it('a file part under another name → 400', async () => {
    const body = multipart([{ name: 'document', filename: 'a.txt', content: 'x' }]);
    expectProblem(await post(`${gw.url}/api/v1/files`, body, form), 400, 'malformed-multipart');
  });

  it('an empty filename → 400', async () => {
    expectProblem(await upload(gw.url, 'content', ''), 400, 'missing-filename');
    expectProblem(await upload(gw.url, 'content', '   '), 400, 'missing-filename');
  });

  it('too many fields → 400', async () => {
    const parts = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, content: 'v' }));
    const body = multipart([...parts, { name: 'file', filename: 'a.txt', content: 'x' }]);
    expectProblem(await post(`${gw.url}/api/v1/files`, body, form), 400, 'malformed-multipart');
  });

  it('unknown routes and methods → 404 problem', async () => {
    const res = await fetch(`${gw.url}/api/v1/nothing`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('size limit', () => {
  it('accepts a file of exactly the limit', async () => {
    const res = await upload(gw.url, Buffer.alloc(LIMIT_BYTES, 'a'), 'exact.bin');
    expect(res.status).toBe(202);
    expect(res.json().file_size).toBe(LIMIT_BYTES);
  });

  it('holds a limit below the in-memory size too: one byte over → 413, exactly at it → 202', async () => {
    // 1000 bytes: such a body is read whole and taken apart in one pass, without busboy's limit.
    const small = await startGateway({ MAX_FILE_SIZE_MB: String(1000 / 1024 / 1024) });
    try {
      const before = await countRows(small.ctx);
      expectProblem(await upload(small.url, Buffer.alloc(1001, 'o')), 413, 'file-too-large');
      expect(await countRows(small.ctx)).toEqual(before);
      expect((await upload(small.url, Buffer.alloc(1000, 'e'))).status).toBe(202);
    } finally {
      await small.close();
    }
  });

  it('refuses one byte over the limit while streaming → 413, temp file removed', async () => {
    const before = await countRows(gw.ctx);
    expectProblem(
      await upload(gw.url, Buffer.alloc(LIMIT_BYTES + 1, 'b'), 'over.bin'),
      413,
      'file-too-large',
    );
    await expectNothingKept(before);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('answers 413 as soon as the limit is crossed, without waiting for the rest of the body', async () => {
    const before = await countRows(gw.ctx);
    const body = new PassThrough();
    body.write(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n`,
    );
    body.write(Buffer.alloc(LIMIT_BYTES + 10, 'c'));
    // The body is never finished: only an answer given at the limit can arrive.
    const res = await post(`${gw.url}/api/v1/files`, body, form);
    body.destroy();
    expectProblem(res, 413, 'file-too-large');
    await expectNothingKept(before);
  });

  it('refuses a Content-Length announcing more than the limit before reading → 413', async () => {
    const res = await post(`${gw.url}/api/v1/files`, null, {
      ...form,
      'content-length': String(50 * LIMIT_BYTES),
    });
    expectProblem(res, 413, 'file-too-large');
  });
});

describe('clients that go away or stall', () => {
  it('a client disconnecting mid-upload leaves no temp file and no job', async () => {
    const before = await countRows(gw.ctx);
    await new Promise<void>((resolve) => {
      const req = request(`${gw.url}/api/v1/files`, { method: 'POST', headers: form });
      req.on('error', () => resolve());
      req.write(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n`,
      );
      req.write(Buffer.alloc(200_000, 'd'));
      // Wait until the gateway has started the temp file, then vanish.
      void waitFor(async () => (await tempFiles(gw.ctx.storageRoot)).length > 0, {
        message: 'temp file started',
      }).then(() => {
        req.destroy();
        resolve();
      });
    });
    await expectNothingKept(before);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('a small body (read whole before parsing) that stalls → 408; one cut off → nothing kept', async () => {
    const before = await countRows(gw.ctx);
    const whole = multipart([{ name: 'file', filename: 'small.txt', content: 'small body' }]);
    const headers = { ...form, 'content-length': String(whole.length) };
    const body = new PassThrough();
    body.write(whole.subarray(0, 20));
    const res = await post(`${gw.url}/api/v1/files`, body, headers);
    body.destroy();
    expectProblem(res, 408, 'upload-timeout');

    await new Promise<void>((resolve) => {
      const req = request(`${gw.url}/api/v1/files`, { method: 'POST', headers });
      req.on('error', () => resolve());
      req.write(whole.subarray(0, 20), () => setTimeout(() => req.destroy(), 50));
    });
    await expectNothingKept(before);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('a client that stalls is cut off after UPLOAD_TIMEOUT_SECONDS with 408', async () => {
    const before = await countRows(gw.ctx);
    const body = new PassThrough();
    body.write(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n`,
    );
    body.write('some bytes, then nothing');
    const res = await post(`${gw.url}/api/v1/files`, body, form);
    body.destroy();
    expectProblem(res, 408, 'upload-timeout');
    await expectNothingKept(before);
  });
});
