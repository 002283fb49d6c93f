import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentPath } from '@scanner/core';
import { createDb } from '@scanner/db';
import { closeRedis, createRedis } from '@scanner/redis';
import { waitFor } from '@scanner/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, startGateway, tempFiles } from './gateway-context.js';
import { BOUNDARY, multipart, post, upload } from './http-client.js';

const sha = (b: string) => createHash('sha256').update(b).digest('hex');

describe('Postgres unreachable', () => {
  it('answers 503 with Retry-After, records nothing and removes the temp file', async () => {
    const deadDb = createDb({
      url: 'postgresql://postgres@127.0.0.1:1/none',
      connectionTimeoutMs: 300,
    });
    const gw = await startGateway({}, { deps: { db: deadDb } });
    try {
      const res = await upload(gw.url, 'postgres is down', 'pg.txt');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({
        status: 503,
        type: expect.stringContaining('database-unavailable'),
      });
      expect(await tempFiles(gw.ctx.storageRoot)).toEqual([]);
      await expect(
        stat(contentPath(gw.ctx.storageRoot, sha('postgres is down'))),
      ).rejects.toThrow();
      expect(await countRows(gw.ctx)).toEqual({ files: 0, jobs: 0 });
      expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    } finally {
      await deadDb.destroy();
      await gw.close();
    }
  });
});

describe('Redis unreachable', () => {
  it('still accepts the upload: the job is safe in Postgres as pending, marked for republishing', async () => {
    const deadRedis = createRedis({ url: 'redis://127.0.0.1:1' });
    const gw = await startGateway({}, { deps: { redis: deadRedis } });
    try {
      const res = await upload(gw.url, 'redis is down', 'r.txt');
      expect(res.status).toBe(202);
      expect(res.json()).toMatchObject({ status: 'pending', deduplication: false });
      const file = await gw.ctx.db
        .selectFrom('files')
        .selectAll()
        .where('sha256', '=', sha('redis is down'))
        .executeTakeFirstOrThrow();
      expect(file.scan_status).toBe('pending');
      expect(file.published_at).toBeNull();
      const job = await gw.ctx.db
        .selectFrom('jobs')
        .selectAll()
        .where('job_id', '=', res.json().job_id as string)
        .executeTakeFirstOrThrow();
      expect(job.status).toBe('pending');
      expect((await stat(contentPath(gw.ctx.storageRoot, sha('redis is down')))).size).toBe(13);
    } finally {
      await closeRedis(deadRedis);
      await gw.close();
    }
  });
});

describe('storage at the emergency tier (a real, small tmpfs)', () => {
  let mountPoint: string;
  beforeAll(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), 'scanner-tmpfs-'));
    // Needs root, as CI has; a failure here must fail the test, not skip it.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]);
  });
  afterAll(async () => {
    if (mountPoint) {
      execFileSync('umount', ['-l', mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });

  it('refuses uploads with 507 before reading the body, and accepts them again once space is freed', async () => {
    const gw = await startGateway({}, { storageRoot: mountPoint });
    try {
      const filler = join(mountPoint, 'filler.bin');
      await writeFile(filler, Buffer.alloc(Math.floor(3.9 * 1024 * 1024)));
      const refused = await upload(gw.url, 'no room', 'full.txt');
      expect(refused.status).toBe(507);
      expect(refused.headers['retry-after']).toBeDefined();
      expect(refused.json()).toMatchObject({
        status: 507,
        type: expect.stringContaining('storage-full'),
      });
      expect(await tempFiles(mountPoint)).toEqual([]);
      expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);

      await rm(filler);
      const accepted = await waitFor(
        async () => {
          const res = await upload(gw.url, 'room again', 'ok.txt');
          return res.status === 202 ? res : undefined;
        },
        { timeoutMs: 5_000, intervalMs: 200, message: 'uploads accepted after space was freed' },
      );
      expect(accepted.json().status).toBe('pending');
      expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});

describe('file part without a filename', () => {
  it('is refused with 400', async () => {
    const gw = await startGateway();
    try {
      const body = multipart([
        { name: 'file', content: 'x', contentType: 'application/octet-stream' },
      ]);
      const res = await post(`${gw.url}/api/v1/files`, body, {
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      });
      expect(res.status).toBe(400);
      expect(res.json().type).toContain('missing-filename');
    } finally {
      await gw.close();
    }
  });
});
