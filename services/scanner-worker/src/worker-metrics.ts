import { Counter, Gauge, Histogram, type Registry } from '@scanner/http-kit';
import type { Redis, RedisKeys } from '@scanner/redis';

export interface WorkerMetrics {
  scanDuration: Histogram;
  bytesScanned: Counter;
  scans: Counter<'outcome'>;
  jobsFinished: Counter<'status'>;
  deadLetters: Counter;
  republished: Counter;
  reclaimed: Counter;
  inFlight: Gauge;
  batchSize: Histogram<'op'>;
}

/**
 * Worker metrics. Queue gauges are read from Redis at scrape time (XLEN, XINFO GROUPS) so they are
 * true for the whole group, not just this replica.
 */
export function createWorkerMetrics(
  registry: Registry,
  redis: Redis,
  keys: RedisKeys,
): WorkerMetrics {
  const queue = async () => {
    if (!redis.isReady) return null;
    try {
      const [length, groups, dead] = await Promise.all([
        redis.xLen(keys.scanStream),
        redis.xInfoGroups(keys.scanStream),
        redis.xLen(keys.deadLetterStream),
      ]);
      const group = groups.find((g) => g.name === keys.scanGroup);
      return { length, pending: group?.pending ?? 0, lag: Number(group?.lag ?? 0), dead };
    } catch {
      return null;
    }
  };
  const queueGauge = (
    name: string,
    help: string,
    pick: (q: NonNullable<Awaited<ReturnType<typeof queue>>>) => number,
  ) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const q = await queue();
        if (q) this.set(pick(q));
      },
    });
  queueGauge(
    'scanner_queue_length',
    'Entries in the scan stream (queued plus delivered but unacknowledged).',
    (q) => q.length,
  );
  queueGauge(
    'scanner_queue_pending_entries',
    'Entries delivered to a worker and not yet acknowledged.',
    (q) => q.pending,
  );
  queueGauge(
    'scanner_queue_consumer_group_lag',
    'Entries not yet delivered to any worker.',
    (q) => q.lag,
  );
  queueGauge('scanner_dead_letter_entries', 'Entries in the dead-letter stream.', (q) => q.dead);

  return {
    scanDuration: new Histogram({
      name: 'scanner_scan_duration_seconds',
      help: 'Time to read, count and verify one content.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    bytesScanned: new Counter({
      name: 'scanner_scanned_bytes_total',
      help: 'Bytes read and counted.',
      registers: [registry],
    }),
    scans: new Counter({
      name: 'scanner_scans_total',
      help: 'Scan attempts by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    jobsFinished: new Counter({
      name: 'scanner_jobs_finished_total',
      help: 'Jobs brought to a final status by scans (completed or failed).',
      labelNames: ['status'],
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'scanner_dead_letters_total',
      help: 'Messages moved to the dead-letter stream.',
      registers: [registry],
    }),
    republished: new Counter({
      name: 'scanner_republished_total',
      help: 'Scans published again because the queue had lost them.',
      registers: [registry],
    }),
    reclaimed: new Counter({
      name: 'scanner_reclaimed_entries_total',
      help: 'Entries claimed from consumers that stopped acknowledging (dead or stalled workers).',
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'scanner_scans_in_flight',
      help: 'Scans running in this process.',
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'scanner_worker_batch_entries',
      help: 'Scans per Postgres call (op: claim, finish, complete) and stream entries per acknowledgement (ack).',
      labelNames: ['op'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
  };
}
