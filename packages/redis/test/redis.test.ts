import { zeroCounts } from '@scanner/core';
import { TcpProxy } from '@scanner/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cacheFinishedJob,
  cacheResults,
  closeRedis,
  connectRedis,
  createRedis,
  decodeScanMessage,
  dropCachedJobs,
  encodeScanMessage,
  ensureScanGroup,
  getCachedJob,
  getCachedResults,
  publishScan,
  RedisStallGuard,
  RedisTimeoutError,
  redisKeys,
} from '../src/index.js';
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from '../src/testing.js';

let t: TestRedis;
beforeAll(async () => {
  t = await createTestRedis();
});
afterAll(async () => {
  await t?.cleanup();
});

const sha = 'a'.repeat(64);

describe('keys', () => {
  it('puts every key and stream under the prefix, with the names the spec uses', () => {
    const k = redisKeys('p:');
    expect([k.scanStream, k.deadLetterStream, k.scanGroup]).toEqual([
      'p:scan_jobs',
      'p:scan_jobs:dead',
      'scanner_workers',
    ]);
    expect(k.fileResults(sha)).toBe(`p:file:${sha}:results`);
    expect(k.jobStatus('j')).toBe('p:job:j:status');
    expect(redisKeys().scanStream).toBe('scan_jobs');
  });
});

describe('scan queue', () => {
  it('round-trips messages and rejects malformed entries', () => {
    const m = { sha256: sha, jobId: 'job', requestId: 'req' };
    expect(decodeScanMessage(encodeScanMessage(m))).toEqual(m);
    expect(decodeScanMessage({ sha256: 'nope', job_id: 'x' })).toBeNull();
    expect(decodeScanMessage({ sha256: sha })).toEqual({ sha256: sha, jobId: '', requestId: '' });
  });

  it('creates the group idempotently, and only BUSYGROUP counts as "already there"', async () => {
    await ensureScanGroup(t.redis, t.keys);
    await ensureScanGroup(t.redis, t.keys);
    await publishScan(t.redis, t.keys, { sha256: sha, jobId: 'j', requestId: 'r' });
    expect(await t.redis.xLen(t.keys.scanStream)).toBe(1);
    // A key of the wrong type is a real error, not "already exists".
    const wrong = redisKeys(`${t.prefix}wrong:`);
    await t.redis.set(wrong.scanStream, 'not a stream');
    await expect(ensureScanGroup(t.redis, wrong)).rejects.toThrow(/WRONGTYPE/);
  });
});

describe('caches', () => {
  it('stores results with a TTL and ignores corrupt entries', async () => {
    const counts = { ...zeroCounts(), A: 3 };
    await cacheResults(t.redis, t.keys, sha, counts, 60);
    expect(await getCachedResults(t.redis, t.keys, [sha])).toEqual([counts]);
    expect(await t.redis.ttl(t.keys.fileResults(sha))).toBeGreaterThan(0);
    await t.redis.set(t.keys.fileResults(sha), '{"A":1}');
    expect(await getCachedResults(t.redis, t.keys, [sha])).toEqual([null]);
    await t.redis.set(t.keys.fileResults(sha), 'not json');
    expect(await getCachedResults(t.redis, t.keys, [sha])).toEqual([null]);
  });

  it('reads many results in one call, in order, a miss or a corrupt entry as null', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((ch) => ch.repeat(64)) as [
      string,
      string,
      string,
      string,
    ];
    await cacheResults(t.redis, t.keys, a, { ...zeroCounts(), A: 1 }, 60);
    await cacheResults(t.redis, t.keys, c, { ...zeroCounts(), C: 2 }, 60);
    await t.redis.set(t.keys.fileResults(d), 'not json');
    expect(await getCachedResults(t.redis, t.keys, [c, b, a, d])).toEqual([
      { ...zeroCounts(), C: 2 },
      null,
      { ...zeroCounts(), A: 1 },
      null,
    ]);
    expect(await getCachedResults(t.redis, t.keys, [])).toEqual([]);
  });

  it('answers every request for a content asked for more than once, from one read of it', async () => {
    const [a, b] = ['e', 'f'].map((ch) => ch.repeat(64)) as [string, string];
    const counts = { ...zeroCounts(), E: 5 };
    await cacheResults(t.redis, t.keys, a, counts, 60);
    const answers = await getCachedResults(t.redis, t.keys, [a, b, a, a, b]);
    expect(answers).toEqual([counts, null, counts, counts, null]);
    // Parsed once: the answers share one object.
    expect(answers[2]).toBe(answers[0]);
    expect(answers[3]).toBe(answers[0]);
  });

  it('caches finished jobs, never with a TTL under a second, and drops them', async () => {
    await cacheFinishedJob(t.redis, t.keys, 'j1', '{"status":"completed"}', 30);
    await cacheFinishedJob(t.redis, t.keys, 'j2', '{}', 0.5);
    expect(await getCachedJob(t.redis, t.keys, 'j1')).toBe('{"status":"completed"}');
    expect(await getCachedJob(t.redis, t.keys, 'j2')).toBeNull();
    await dropCachedJobs(t.redis, t.keys, ['j1']);
    expect(await getCachedJob(t.redis, t.keys, 'j1')).toBeNull();
  });
});

describe('client', () => {
  it('fails commands at once while disconnected instead of queueing them', async () => {
    const dead = createRedis({ url: 'redis://127.0.0.1:1' });
    expect(await connectRedis(dead, 300)).toBe(false);
    await expect(dead.get('x')).rejects.toThrow();
    dead.destroy();
    await closeRedis(dead);
  });

  it('keeps an idle connection, and replaces one that went silent (half-open)', async () => {
    const proxy = new TcpProxy('127.0.0.1', Number(new URL(TEST_REDIS_URL).port || 6379));
    const port = await proxy.start();
    const errors: Error[] = [];
    const client = createRedis({
      url: `redis://127.0.0.1:${port}/0`,
      silenceTimeoutMs: 600,
      onError: (err) => errors.push(err),
    });
    try {
      expect(await connectRedis(client)).toBe(true);
      // Idle for several deadlines: its PINGs keep it.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(errors).toEqual([]);
      expect(await client.ping()).toBe('PONG');

      proxy.sever();
      const lost = client.get(t.keys.fileResults(sha));
      await expect(lost).rejects.toThrow();
      expect(errors.map((e) => e.message).join('\n')).toMatch(/didn't receive any in 600ms/);
      await expect.poll(() => client.isReady, { timeout: 5_000 }).toBe(true);
      expect(await client.ping()).toBe('PONG');
    } finally {
      await closeRedis(client);
      await proxy.cut();
    }
  });
});

describe('RedisStallGuard', () => {
  it('refuses calls at once while a timed-out one is unanswered, and sends them again after', async () => {
    // Its own connection: a blocking command holds every reply after it on that connection, a
    // Redis that is connected but does not answer, without touching the shared server.
    const client = createRedis({ url: TEST_REDIS_URL });
    expect(await connectRedis(client)).toBe(true);
    try {
      const guard = new RedisStallGuard(client);
      const key = t.keys.fileResults(sha);
      await t.redis.set(key, 'v');
      expect(await guard.call((c) => c.get(key), 500, 'get')).toBe('v');

      const blocking = client.blPop(t.keys.jobStatus('never-pushed'), 1);
      await expect(guard.call((c) => c.get(key), 100, 'get')).rejects.toBeInstanceOf(
        RedisTimeoutError,
      );
      expect(client.isReady).toBe(true);
      expect(guard.usable).toBe(false);
      const started = performance.now();
      await expect(guard.call((c) => c.get(key), 5_000, 'get')).rejects.toThrow(/unanswered/);
      expect(performance.now() - started).toBeLessThan(1_000);

      // Once the blocked reply and the timed-out GET behind it arrive, calls go out again.
      expect(await blocking).toBeNull();
      await expect.poll(() => guard.usable, { timeout: 2_000 }).toBe(true);
      expect(await guard.call((c) => c.get(key), 500, 'get')).toBe('v');
    } finally {
      await closeRedis(client);
    }
  });

  it('refuses calls while the client is disconnected, and other errors do not hold it back', async () => {
    const dead = createRedis({ url: 'redis://127.0.0.1:1' });
    expect(await connectRedis(dead, 300)).toBe(false);
    const guard = new RedisStallGuard(dead);
    expect(guard.usable).toBe(false);
    await expect(guard.call((c) => c.get('x'), 500, 'get')).rejects.toThrow(/not connected/);
    dead.destroy();
    await closeRedis(dead);

    const live = new RedisStallGuard(t.redis);
    await t.redis.set(t.keys.fileResults('b'.repeat(64)), 'not a list');
    await expect(
      live.call((c) => c.lPush(t.keys.fileResults('b'.repeat(64)), 'x'), 500, 'lpush'),
    ).rejects.toThrow(/WRONGTYPE/);
    expect(live.usable).toBe(true);
  });
});
