import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '@scanner/config';
import type { Db } from '@scanner/db';
import type { Registry } from '@scanner/http-kit';
import type { Logger } from '@scanner/logging';
import { republishLostScans } from '@scanner/recovery';
import { closeRedis, connectRedis, type Redis, type RedisKeys } from '@scanner/redis';
import { CompletionLog } from './completion-log.js';
import { type Disposition, processScan, type ScanDeps } from './process-scan.js';
import { ScanConsumer } from './scan-consumer.js';
import { ScanSlots } from './scan-slots.js';
import { ScanStore } from './scan-store.js';
import { createWorkerMetrics } from './worker-metrics.js';

export interface WorkerDeps {
  config: Config;
  db: Db;
  redis: Redis;
  keys: RedisKeys;
  log: Logger;
  registry: Registry;
}

export interface Worker {
  consumerName: string;
  running(): boolean;
  start(): Promise<void>;
  stop(graceMs: number): Promise<void>;
}

/** Unique per process, readable in XINFO CONSUMERS: host, pid and a random suffix. */
export function consumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Wires the consumer, the scan handler and the periodic republisher together. */
export function createWorker(deps: WorkerDeps, name = consumerName()): Worker {
  const { config, log } = deps;
  const metrics = createWorkerMetrics(deps.registry, deps.redis, deps.keys);
  const blocking = deps.redis.duplicate();
  blocking.on('error', () => {});
  const store = new ScanStore({
    db: deps.db,
    log,
    metrics,
    staleAfterMs: config.worker.claimIdleMs,
    maxAttempts: config.worker.maxRetries,
  });
  const scanDeps: ScanDeps = {
    store,
    redis: deps.redis,
    keys: deps.keys,
    log,
    metrics,
    storageRoot: config.storage.rootPath,
    verify: config.worker.verifyScans,
    maxRetries: config.worker.maxRetries,
    completions: new CompletionLog(log),
    running: new Map<string, Promise<Disposition>>(),
    largeScans: new ScanSlots(config.worker.largeFileScans),
  };
  const consumer = new ScanConsumer({
    redis: deps.redis,
    blocking,
    keys: deps.keys,
    consumerName: name,
    concurrency: config.worker.concurrency,
    batchWaitMs: config.worker.batchWaitMs,
    claimIdleMs: config.worker.claimIdleMs,
    log: log.child({ component: 'consumer', consumer: name }),
    metrics,
    handle: (msg, signal, delivery) => processScan(scanDeps, msg, signal, delivery),
  });
  const republishEveryMs = Math.max(
    100,
    Math.min(30_000, Math.floor(config.worker.republishAfterMs / 2)),
  );
  let republishTimer: NodeJS.Timeout | undefined;
  let republishing: Promise<unknown> = Promise.resolve();
  const republishLog = log.child({ component: 'republisher' });
  const republishPass = () => {
    republishing = republishLostScans({
      ...deps,
      onRepublished: (n) => metrics.republished.inc(n),
      log: republishLog,
      republishAfterMs: config.worker.republishAfterMs,
      staleAfterMs: config.worker.claimIdleMs,
    }).catch((err) => republishLog.warn({ err }, 'republish pass failed'));
  };

  return {
    consumerName: name,
    running: () => consumer.running,
    async start() {
      await connectRedis(blocking);
      store.startHeartbeats();
      consumer.start();
      republishTimer = setInterval(republishPass, republishEveryMs);
      republishPass();
      log.info({ consumer: name, concurrency: config.worker.concurrency }, 'worker started');
    },
    async stop(graceMs) {
      clearInterval(republishTimer);
      await consumer.stop(graceMs);
      await store.stop();
      scanDeps.completions.flush();
      await republishing;
      await closeRedis(blocking);
    },
  };
}
