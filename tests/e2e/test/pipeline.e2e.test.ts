import { createHash, randomBytes } from 'node:crypto';
import { LETTERS, type LetterCounts } from '@scanner/core';
import { waitFor } from '@scanner/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack, uploadFile } from './stack.js';

/** Deliberately naive reference: one byte at a time, no tricks. */
function referenceCounts(bytes: Uint8Array): LetterCounts {
  const counts = Object.fromEntries(LETTERS.map((l) => [l, 0])) as LetterCounts;
  for (const b of bytes) {
    if (b >= 65 && b <= 90) counts[String.fromCharCode(b) as keyof LetterCounts]++;
    else if (b >= 97 && b <= 122) counts[String.fromCharCode(b - 32) as keyof LetterCounts]++;
  }
  return counts;
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

async function pollUntilDone(jobId: string) {
  return waitFor(
    async () => {
      const res = await fetch(`${stack.url}/api/v1/files/${jobId}`);
      // A job id is never returned before its row is committed: never a 404 here.
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      return body.status === 'completed' || body.status === 'failed' ? body : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 20, message: `job ${jobId} to finish` },
  );
}

describe('through the edge, like a client', () => {
  it('upload → poll → completed with exact counts → same content again → 200 deduplicated', async () => {
    const content = 'The quick brown fox jumps over the lazy dog. ÄÖÜ ß ﬁ 123\r\nZZZ';
    const { res, body } = await uploadFile(stack.url, content, 'fox.txt', {
      'x-request-id': 'e2e-fox-request',
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/v1/files/${body.job_id}`);
    expect(res.headers.get('x-request-id')).toBe('e2e-fox-request');
    const done = await pollUntilDone(body.job_id as string);
    expect(done).toMatchObject({
      status: 'completed',
      original_filename: 'fox.txt',
      sha256: createHash('sha256').update(content).digest('hex'),
      results: referenceCounts(Buffer.from(content)),
      error_message: null,
    });
    expect(done.completed_at).toMatch(/Z$/);

    const again = await uploadFile(stack.url, content, 'fox-again.txt');
    expect(again.res.status).toBe(200);
    expect(again.body).toMatchObject({
      status: 'completed',
      deduplication: true,
      results: referenceCounts(Buffer.from(content)),
    });
    const dedupJob = (await (
      await fetch(`${stack.url}/api/v1/files/${again.body.job_id}`)
    ).json()) as Record<string, unknown>;
    expect(dedupJob).toMatchObject({ status: 'completed', original_filename: 'fox-again.txt' });
    expect(dedupJob.completed_at).toMatch(/Z$/);

    // The request id travels with the work into the worker's logs.
    await waitFor(() => stack.processes.worker?.output().includes('e2e-fox-request'), {
      message: 'request id in worker logs',
    });
  });

  it('counts a multi-megabyte random binary file exactly', async () => {
    const content = randomBytes(6 * 1024 * 1024 + 3);
    const { res, body } = await uploadFile(stack.url, content, 'random.bin');
    expect(res.status).toBe(202);
    expect(body.file_size).toBe(content.length);
    const done = await pollUntilDone(body.job_id as string);
    expect(done.results).toEqual(referenceCounts(content));
  });

  it('concurrent identical uploads complete with identical results and one scan', async () => {
    const content = `concurrent ${randomBytes(8).toString('hex')} ${'abc'.repeat(10_000)}`;
    const uploads = await Promise.all(
      Array.from({ length: 20 }, (_, i) => uploadFile(stack.url, content, `c${i}.txt`)),
    );
    expect(uploads.every((u) => u.res.status === 202 || u.res.status === 200)).toBe(true);
    expect(uploads.filter((u) => u.body.deduplication === false)).toHaveLength(1);
    const finished = await Promise.all(uploads.map((u) => pollUntilDone(u.body.job_id as string)));
    for (const f of finished) expect(f.results).toEqual(referenceCounts(Buffer.from(content)));
    const sha = createHash('sha256').update(content).digest('hex');
    const file = await stack.ctx.db
      .selectFrom('files')
      .select('scan_attempts')
      .where('sha256', '=', sha)
      .executeTakeFirstOrThrow();
    expect(file.scan_attempts).toBe(1);
  });

  it('serves results by hash, health, and problem+json errors', async () => {
    const content = 'hash lookup through the edge';
    const { body } = await uploadFile(stack.url, content, 'h.txt');
    await pollUntilDone(body.job_id as string);
    const sha = createHash('sha256').update(content).digest('hex');
    const byHash = await fetch(`${stack.url}/api/v1/hashes/${sha}`);
    expect(byHash.status).toBe(200);
    expect(await byHash.json()).toMatchObject({
      sha256: sha,
      results: referenceCounts(Buffer.from(content)),
    });

    const health = await fetch(`${stack.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'healthy',
      database: 'healthy',
      redis: 'healthy',
    });

    const missing = await fetch(`${stack.url}/api/v1/files/00000000-0000-4000-8000-000000000000`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const noRoute = await fetch(`${stack.url}/nowhere`);
    expect(noRoute.status).toBe(404);
    expect(noRoute.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const notMultipart = await fetch(`${stack.url}/api/v1/files`, {
      method: 'POST',
      body: 'x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(notMultipart.status).toBe(415);
  });

  it('routes the admin cleanup through the edge, behind its token', async () => {
    expect((await fetch(`${stack.url}/admin/cleanup`, { method: 'POST' })).status).toBe(401);
    const ok = await fetch(`${stack.url}/admin/cleanup?dry_run=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(ok.status).toBe(200);
  });
});
