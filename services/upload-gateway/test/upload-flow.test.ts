import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { contentPath, countLetters, tempDir } from '@scanner/core';
import { findJob, finishScan } from '@scanner/db';
import { holdRowLock } from '@scanner/db/testing';
import { createLogger } from '@scanner/logging';
import { captureLogLines } from '@scanner/logging/testing';
import { cacheResults } from '@scanner/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, type GatewayUnderTest, startGateway, tempFiles } from './gateway-context.js';
import { BOUNDARY, multipart, post, upload } from './http-client.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const digestHeader = (b: Buffer | string) =>
  `sha-256=:${createHash('sha256').update(b).digest('base64')}:`;

let gw: GatewayUnderTest;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw?.close();
});

async function storedFilename(jobId: string) {
  return (await findJob(gw.ctx.db, jobId))?.originalFilename;
}

async function streamEntries() {
  return gw.ctx.redis.xRange(gw.ctx.keys.scanStream, '-', '+');
}

describe('POST /api/v1/files', () => {
  it('accepts new content: 202, Location, stored at its content address, one scan queued', async () => {
    const content = 'Hello, World! abc XYZ\r\n';
    const res = await upload(gw.url, content, 'hello.txt', { 'x-request-id': 'req-123' });
    expect(res.status).toBe(202);
    const body = res.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      status: 'pending',
      deduplication: false,
      sha256: sha(content),
      file_size: Buffer.byteLength(content),
    });
    expect(typeof body.message).toBe('string');
    expect(res.headers.location).toBe(`/api/v1/files/${body.job_id}`);
    expect(res.headers['x-request-id']).toBe('req-123');

    expect(await readFile(contentPath(gw.ctx.storageRoot, sha(content)), 'utf8')).toBe(content);
    expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
    const job = await gw.ctx.db
      .selectFrom('jobs')
      .selectAll()
      .where('job_id', '=', body.job_id as string)
      .executeTakeFirstOrThrow();
    expect(job).toMatchObject({
      status: 'pending',
      original_filename: 'hello.txt',
      request_id: 'req-123',
    });
    const entries = (await streamEntries()).filter((e) => e.message.sha256 === sha(content));
    expect(entries).toHaveLength(1);
    expect(entries[0]?.message).toMatchObject({ job_id: body.job_id, request_id: 'req-123' });
  });

  it('joins a scan in progress: 202 with deduplication, no second file and no second message', async () => {
    const content = 'in flight content';
    const first = await upload(gw.url, content, 'a.txt');
    const second = await upload(gw.url, content, 'b.txt');
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.json()).toMatchObject({
      status: 'pending',
      deduplication: true,
      sha256: sha(content),
    });
    expect(second.json().job_id).not.toBe(first.json().job_id);
    expect((await streamEntries()).filter((e) => e.message.sha256 === sha(content))).toHaveLength(
      1,
    );

    // When the scan finishes, both jobs finish with it.
    const results = countLetters(Buffer.from(content));
    await finishScan(gw.ctx.db, sha(content), { results });
    const jobs = await gw.ctx.db
      .selectFrom('jobs')
      .selectAll()
      .where('sha256', '=', sha(content))
      .execute();
    expect(jobs.map((j) => j.status)).toEqual(['completed', 'completed']);
    expect(jobs.every((j) => j.completed_at instanceof Date)).toBe(true);
  });

  it('answers content already scanned with 200 and the results, recording a completed job', async () => {
    const content = 'scanned before';
    const first = await upload(gw.url, content);
    const results = countLetters(Buffer.from(content));
    await finishScan(gw.ctx.db, sha(content), { results });

    const again = await upload(gw.url, content, 'again.txt');
    expect(again.status).toBe(200);
    const body = again.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      status: 'completed',
      deduplication: true,
      results,
      sha256: sha(content),
      file_size: 14,
    });
    expect(body.job_id).not.toBe(first.json().job_id);
    const job = await gw.ctx.db
      .selectFrom('jobs')
      .selectAll()
      .where('job_id', '=', body.job_id as string)
      .executeTakeFirstOrThrow();
    expect(job.status).toBe('completed');
    expect(job.original_filename).toBe('again.txt');
    expect(job.completed_at).toBeInstanceOf(Date);
    expect(job.deduplicated).toBe(true);
    // The Postgres answer refilled the results cache for the next duplicate.
    const cached = await gw.ctx.redis.get(gw.ctx.keys.fileResults(sha(content)));
    expect(cached && JSON.parse(cached)).toEqual(results);
    expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
  });

  it('answers duplicates of scanned content the cache lost in shared statements, not each on its row lock', async () => {
    const content = 'scanned, then the cache lost it';
    await upload(gw.url, content);
    const results = countLetters(Buffer.from(content));
    await finishScan(gw.ctx.db, sha(content), { results });
    await gw.ctx.redis.del(gw.ctx.keys.fileResults(sha(content)));

    // A lock on the content's row that the locked path (SELECT … FOR UPDATE, one transaction per
    // upload) has to wait for, and an insert of a job referencing the row (its foreign key check
    // takes KEY SHARE) does not: duplicates answered by the batched insert of completed jobs, which
    // locks nothing for content uploaded within the last minute, are not held back by it.
    const lock = await holdRowLock(gw.ctx.db, sha(content), undefined, 'no key update');
    try {
      const answers = Promise.all(
        Array.from({ length: 20 }, (_, i) => upload(gw.url, content, `lost-${i}.txt`)),
      );
      const outcome = await Promise.race([
        answers,
        new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 5_000)),
      ]);
      expect(outcome).not.toBe('blocked');
      const responses = await answers;
      expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
      for (const r of responses)
        expect(r.json()).toMatchObject({ status: 'completed', deduplication: true, results });
    } finally {
      await lock.release();
    }
    const jobs = await gw.ctx.db
      .selectFrom('jobs')
      .select(['status', 'deduplicated'])
      .where('original_filename', 'like', 'lost-%')
      .execute();
    expect(jobs).toHaveLength(20);
    expect(jobs.every((j) => j.status === 'completed' && j.deduplicated)).toBe(true);
    const cached = await gw.ctx.redis.get(gw.ctx.keys.fileResults(sha(content)));
    expect(cached && JSON.parse(cached)).toEqual(results);
  });

  it('uses the Redis results cache first', async () => {
    const content = 'cached results';
    await upload(gw.url, content);
    const results = countLetters(Buffer.from(content));
    await finishScan(gw.ctx.db, sha(content), { results });
    await cacheResults(gw.ctx.redis, gw.ctx.keys, sha(content), results, 60);
    const again = await upload(gw.url, content);
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ deduplication: true, results });
  });

  it('keeps small bodies in memory: a duplicate is answered without touching the volume', async () => {
    const content = 'small and scanned';
    await upload(gw.url, content);
    await finishScan(gw.ctx.db, sha(content), { results: countLetters(Buffer.from(content)) });
    // With the temp folder replaced by a plain file, any temp file would fail to be created.
    const tmp = tempDir(gw.ctx.storageRoot);
    await rm(tmp, { recursive: true });
    await writeFile(tmp, 'not a directory');
    try {
      const again = await upload(gw.url, content, 'again.txt');
      expect(again.status).toBe(200);
      expect(again.json()).toMatchObject({ deduplication: true, sha256: sha(content) });
      // New content does need the disk: the failure is reported and the content left failed, so
      // the next upload of it is stored and scanned afresh.
      const fresh = await upload(gw.url, 'new content needs the temp folder');
      expect(fresh.status).toBe(500);
      expect(fresh.headers['content-type']).toMatch(/^application\/problem\+json/);
      const row = await gw.ctx.db
        .selectFrom('files')
        .select('scan_status')
        .where('sha256', '=', sha('new content needs the temp folder'))
        .executeTakeFirstOrThrow();
      expect(row.scan_status).toBe('failed');
    } finally {
      await rm(tmp);
      await mkdir(tmp);
    }
  });

  it('streams a body over 64 KiB through a temp file and stores every byte', async () => {
    const content = randomBytes(200 * 1024 + 7);
    const res = await upload(gw.url, content, 'big.bin');
    expect(res.status).toBe(202);
    expect(res.json()).toMatchObject({ sha256: sha(content), file_size: content.length });
    expect(await readFile(contentPath(gw.ctx.storageRoot, sha(content)))).toEqual(content);
    expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
  });

  it('reads small bodies of every form: the plain one in one pass, any other through busboy', async () => {
    const content = randomBytes(3000);
    const plain = multipart([{ name: 'file', filename: 'plain.bin', content }]);
    // A field before the file and a preamble: valid multipart the one-pass reading leaves to busboy.
    const other = Buffer.concat([
      Buffer.from('a preamble clients may send\r\n'),
      multipart([
        { name: 'note', content: 'a field first' },
        { name: 'file', filename: 'other.bin', content },
      ]),
    ]);
    for (const [body, filename] of [
      [plain, 'plain.bin'],
      [other, 'other.bin'],
    ] as const) {
      const res = await post(`${gw.url}/api/v1/files`, body);
      expect(res.status, res.text).toBeLessThan(300);
      expect(res.json()).toMatchObject({ sha256: sha(content), file_size: content.length });
      expect(await storedFilename(res.json().job_id as string)).toBe(filename);
    }
    expect(await readFile(contentPath(gw.ctx.storageRoot, sha(content)))).toEqual(content);
  });

  it('accepts an empty file', async () => {
    const res = await upload(gw.url, Buffer.alloc(0), 'empty.bin');
    expect(res.status).toBe(202);
    expect(res.json()).toMatchObject({ file_size: 0, sha256: sha('') });
    expect((await stat(contentPath(gw.ctx.storageRoot, sha('')))).size).toBe(0);
  });

  it('keeps filenames as data only: base name, trimmed, no control characters, at most 255 characters', async () => {
    // Directory parts are dropped (as browsers do); the name is stored, never used as a path.
    const cases: Array<[string, string]> = [
      ['../../etc/passwd', 'passwd'],
      ['/absolute/path.txt', 'path.txt'],
      ['C:\\Users\\me\\doc.txt', 'doc.txt'],
      ['  spaced\tname.txt  ', 'spacedname.txt'],
      [`${'ä'.repeat(300)}.txt`, 'ä'.repeat(255)],
      ['😀'.repeat(300), '😀'.repeat(255)],
    ];
    for (const [i, [raw, stored]] of cases.entries()) {
      const res = await upload(gw.url, `filename case ${i}`, raw);
      expect(res.status, raw).toBe(202);
      expect(await storedFilename(res.json().job_id as string)).toBe(stored);
    }
    expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
  });

  it('removes NUL bytes from an RFC 5987 encoded filename, and refuses raw NUL bytes in headers', async () => {
    const encoded = Buffer.concat([
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename*=utf-8''nul%00by%01te%7F.txt\r\n\r\n`,
      ),
      Buffer.from(`nul content\r\n--${BOUNDARY}--\r\n`),
    ]);
    const ok = await post(`${gw.url}/api/v1/files`, encoded);
    expect(ok.status).toBe(202);
    const job = await gw.ctx.db
      .selectFrom('jobs')
      .select('original_filename')
      .where('job_id', '=', ok.json().job_id as string)
      .executeTakeFirstOrThrow();
    expect(job.original_filename).toBe('nulbyte.txt');

    const raw = await upload(gw.url, 'raw nul', 'nul\u0000byte.txt');
    expect(raw.status).toBe(400);
    expect(raw.json().type).toContain('malformed-multipart');
    expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
  });

  it('stores a filename that is not valid UTF-8 with replacement characters', async () => {
    const body = multipart([
      { name: 'file', rawFilename: Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74]), content: 'bytes' },
    ]);
    const res = await post(`${gw.url}/api/v1/files`, body);
    expect(res.status).toBe(202);
    const job = await gw.ctx.db
      .selectFrom('jobs')
      .select('original_filename')
      .where('job_id', '=', res.json().job_id as string)
      .executeTakeFirstOrThrow();
    expect(job.original_filename).toBe('f\ufffd\ufffd.t');
  });

  it('decides 50 concurrent uploads of the same new content in Postgres: one file, one scan, 50 jobs', async () => {
    const content = Buffer.from(`concurrent ${'x'.repeat(100_000)}`);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => upload(gw.url, content, `c${i}.txt`)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(202));
    expect(responses.filter((r) => r.json().deduplication === false)).toHaveLength(1);
    expect(new Set(responses.map((r) => r.json().job_id)).size).toBe(50);
    expect((await streamEntries()).filter((e) => e.message.sha256 === sha(content))).toHaveLength(
      1,
    );
    const files = await gw.ctx.db
      .selectFrom('files')
      .selectAll()
      .where('sha256', '=', sha(content))
      .execute();
    expect(files).toHaveLength(1);
    expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);

    const results = countLetters(content);
    await finishScan(gw.ctx.db, sha(content), { results });
    const jobs = await gw.ctx.db
      .selectFrom('jobs')
      .select('status')
      .where('sha256', '=', sha(content))
      .execute();
    expect(jobs).toHaveLength(50);
    expect(jobs.every((j) => j.status === 'completed')).toBe(true);
  });

  it("restarts a failed scan with the new upload's bytes", async () => {
    const content = 'failed once';
    await upload(gw.url, content);
    await finishScan(gw.ctx.db, sha(content), { error: 'stored file is corrupted' });
    const again = await upload(gw.url, content, 'retry.txt');
    expect(again.status).toBe(202);
    expect(again.json()).toMatchObject({ status: 'pending', deduplication: false });
    const file = await gw.ctx.db
      .selectFrom('files')
      .selectAll()
      .where('sha256', '=', sha(content))
      .executeTakeFirstOrThrow();
    expect(file).toMatchObject({
      scan_status: 'pending',
      scan_attempts: 0,
      error_message: null,
      blob_present: true,
    });
    expect((await streamEntries()).filter((e) => e.message.sha256 === sha(content))).toHaveLength(
      2,
    );
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/scanner_uploads_total\{outcome="rescan"[^}]*\} 1\n/);
  });
});

describe('Repr-Digest', () => {
  it('answers known content before reading the body', async () => {
    const content = 'digest known';
    await upload(gw.url, content);
    await finishScan(gw.ctx.db, sha(content), { results: countLetters(Buffer.from(content)) });
    const { files } = await countRows(gw.ctx);

    // The body's file content never ends: only an answer given before reading it can arrive.
    const body = new PassThrough();
    body.write(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="d.txt"\r\n\r\n`,
    );
    body.write('the client would go on sending for a long time...');
    const res = await post(`${gw.url}/api/v1/files`, body, {
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      'repr-digest': digestHeader(content),
    });
    body.destroy();
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'completed',
      deduplication: true,
      sha256: sha(content),
      file_size: 12,
    });
    const job = await gw.ctx.db
      .selectFrom('jobs')
      .selectAll()
      .where('job_id', '=', res.json().job_id as string)
      .executeTakeFirstOrThrow();
    expect(job).toMatchObject({ status: 'completed', original_filename: 'd.txt', file_size: 12 });
    expect((await countRows(gw.ctx)).files).toBe(files);
    expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
  });

  it('answers known content before reading a small body that is held back', async () => {
    const content = 'digest known, body held back';
    await upload(gw.url, content);
    await finishScan(gw.ctx.db, sha(content), { results: countLetters(Buffer.from(content)) });
    // A length within the in-memory size is announced, but only the part headers and a little
    // content come before the client hears the answer: waiting for the whole body would wait for
    // ever. (busboy needs a few content bytes to see where the headers end.)
    const whole = multipart([{ name: 'file', filename: 'held.txt', content }]);
    const body = new PassThrough();
    body.write(whole.subarray(0, whole.indexOf('\r\n\r\n') + 10));
    const res = await post(`${gw.url}/api/v1/files`, body, {
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      'content-length': String(whole.length),
      'repr-digest': digestHeader(content),
    });
    body.destroy();
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ status: 'completed', sha256: sha(content) });
    // And whole, in one read, it is answered the same.
    const again = await upload(gw.url, content, 'whole.txt', {
      'repr-digest': digestHeader(content),
    });
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ status: 'completed', sha256: sha(content) });
  });

  it('reads the body when the digest is unknown, and accepts it when it matches', async () => {
    const content = 'digest unknown but right';
    const res = await upload(gw.url, content, 'x.txt', { 'repr-digest': digestHeader(content) });
    expect(res.status).toBe(202);
    expect(res.json().sha256).toBe(sha(content));
  });

  it('rejects a body that does not match its digest and keeps nothing', async () => {
    const before = await countRows(gw.ctx);
    const res = await upload(gw.url, 'actual bytes', 'x.txt', {
      'repr-digest': digestHeader('other bytes'),
    });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      status: 400,
      type: expect.stringContaining('digest-mismatch'),
    });
    expect(await countRows(gw.ctx)).toEqual(before);
    expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
    await expect(stat(contentPath(gw.ctx.storageRoot, sha('actual bytes')))).rejects.toThrow();
  });

  it('rejects a malformed digest', async () => {
    const res = await upload(gw.url, 'x', 'x.txt', { 'repr-digest': 'sha-256=:not-base64!:' });
    expect(res.status).toBe(400);
    expect(res.json().type).toContain('invalid-repr-digest');
  });
});

describe('upload log lines', () => {
  it('logs each upload at debug with its request id, and makes no request logger when debug is off', async () => {
    const captured = captureLogLines();
    const debug = await startGateway(
      {},
      {
        deps: {
          log: createLogger({
            service: 'upload-gateway',
            level: 'debug',
            destination: captured.destination,
          }),
        },
      },
    );
    const info = createLogger({ service: 'upload-gateway', level: 'info' });
    let children = 0;
    const makeChild = info.child.bind(info);
    info.child = ((...args: Parameters<typeof info.child>) => {
      children++;
      return makeChild(...args);
    }) as typeof info.child;
    const quiet = await startGateway({}, { deps: { log: info } });
    try {
      for (const gateway of [debug, quiet]) {
        const content = `log lines ${gateway.url}`;
        expect(
          (await upload(gateway.url, content, 'l.txt', { 'x-request-id': 'req-log' })).status,
        ).toBe(202);
        await finishScan(gateway.ctx.db, sha(content), {
          results: countLetters(Buffer.from(content)),
        });
        const known = await upload(gateway.url, content, 'l.txt', {
          'x-request-id': 'req-log-2',
          'repr-digest': digestHeader(content),
        });
        expect(known.status).toBe(200);
      }
      expect(captured.lines).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ msg: 'upload recorded', requestId: 'req-log', outcome: 'new' }),
          expect.objectContaining({
            msg: 'upload answered from digest',
            requestId: 'req-log-2',
            outcome: 'duplicate_completed',
          }),
        ]),
      );
      expect(children).toBe(0);
    } finally {
      await debug.close();
      await quiet.close();
    }
  });
});
