import { GroupCommit } from '@scanner/db';
import type { Logger } from '@scanner/logging';
import {
  decodeScanMessage,
  ensureScanGroup,
  type Redis,
  type RedisKeys,
  type ScanMessage,
} from '@scanner/redis';
import type { Disposition } from './process-scan.js';
import { sleep } from './retry.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface ConsumerOptions {
  /** Commands (ack, claim, keep-alive). */
  redis: Redis;
  /** A dedicated connection: a blocking XREADGROUP would stall every other command on a shared one. */
  blocking: Redis;
  keys: RedisKeys;
  consumerName: string;
  concurrency: number;
  /**
   * After a read that filled less than half the free slots, wait this long before the next one
   * (0: never), so that a steady flow is handled in batches rather than an entry at a time.
   */
  batchWaitMs?: number;
  /** Entries idle this long belong to a dead or stuck consumer and may be claimed. */
  claimIdleMs: number;
  blockMs?: number;
  log: Logger;
  metrics: WorkerMetrics;
  /** `redelivered`: the entry was reclaimed from another consumer (it may have died on it). */
  handle: (
    msg: ScanMessage,
    signal: AbortSignal,
    delivery: { redelivered: boolean },
  ) => Promise<Disposition>;
}

interface Entry {
  id: string;
  message: Record<string, string>;
}

/**
 * Reads the scan stream as one consumer of the group, running up to `concurrency` handlers at once.
 * Delivery is at least once: an entry is acknowledged (and deleted, which keeps the stream bounded
 * without ever trimming unacknowledged work) only after its handler committed. Entries of dead
 * consumers are reclaimed with XAUTOCLAIM; this consumer keeps its own in-flight entries fresh so
 * a long scan is never taken from a live worker. Acknowledgements are batched: one XACK and one
 * XDEL for all the entries whose handlers finished while the previous batch was on its way.
 */
export class ScanConsumer {
  readonly #o: ConsumerOptions;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #abort = new AbortController();
  #stopping = false;
  #loop: Promise<void> | undefined;
  #slotFreed: (() => void) | undefined;
  #endWait: (() => void) | undefined;
  #lastReclaim = 0;
  #keepAlive: NodeJS.Timeout | undefined;
  #groupReady = false;
  #refreshing = false;
  readonly #acks: GroupCommit<string, undefined>;

  constructor(options: ConsumerOptions) {
    this.#o = options;
    const { redis, keys } = options;
    this.#acks = new GroupCommit(
      async (ids: string[]) => {
        await redis
          .multi()
          .xAck(keys.scanStream, keys.scanGroup, ids)
          .xDel(keys.scanStream, ids)
          .exec();
        return ids.map(() => undefined);
      },
      { maxBatch: 1_000, onBatch: (n) => options.metrics.batchSize.observe({ op: 'ack' }, n) },
    );
  }

  get running(): boolean {
    return this.#loop !== undefined && !this.#stopping;
  }

  start(): void {
    this.#loop ??= this.#run();
    this.#keepAlive = setInterval(
      () => void this.#refreshInFlight(),
      Math.max(50, Math.floor(this.#o.claimIdleMs / 3)),
    );
  }

  /**
   * Stops reading, waits up to `graceMs` for running scans, then aborts the rest (their entries
   * stay pending and are reclaimed by other workers). Leaves the group if nothing is pending.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#slotFreed?.();
    this.#endWait?.();
    // The loop exits within one blocking read; whatever that read delivered is handled below.
    await this.#loop;
    const drained = Promise.allSettled([...this.#inFlight.values()]);
    const timedOut = await Promise.race([
      drained.then(() => false),
      sleep(graceMs).then(() => true),
    ]);
    if (timedOut) {
      this.#o.log.warn(
        { inFlight: this.#inFlight.size },
        'shutdown deadline: aborting running scans',
      );
      this.#abort.abort();
      // A scan blocked inside a read cannot notice the abort; its entry stays pending and is
      // reclaimed by another worker, so it is not worth missing the shutdown deadline for.
      await Promise.race([drained, sleep(1_000)]);
    }
    clearInterval(this.#keepAlive);
    await this.#leaveGroup();
  }

  async #run(): Promise<void> {
    const { log } = this.#o;
    let failures = 0;
    while (!this.#stopping) {
      try {
        if (!this.#groupReady) {
          await ensureScanGroup(this.#o.redis, this.#o.keys);
          this.#groupReady = true;
        }
        const free = this.#o.concurrency - this.#inFlight.size;
        if (free <= 0) {
          await new Promise<void>((resolve) => {
            this.#slotFreed = resolve;
          });
          // Handlers finish in groups (their commits and acks are batched): read once for all the
          // slots this turn frees, not once per slot.
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        const claimed = await this.#reclaim(free);
        if (claimed.length > 0) for (const entry of claimed) this.#dispatch(entry, true);
        else {
          const entries = await this.#read(free);
          for (const entry of entries) this.#dispatch(entry, false);
          // A steady flow arrives an entry at a time: read at once and every entry would cost a
          // read, a Postgres call and an ack of its own. Letting the next ones gather for a few
          // milliseconds shares those calls; the entries just read are already being handled.
          if (entries.length > 0 && entries.length < free / 2) await this.#batchWait();
        }
        failures = 0;
      } catch (err) {
        if (this.#stopping) break;
        // The stream or group vanished (Redis flushed or restarted without persistence).
        if (err instanceof Error && err.message.includes('NOGROUP')) {
          log.warn('consumer group missing; recreating it');
          this.#groupReady = false;
          continue;
        }
        failures++;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random() / 2);
        if (failures === 1 || failures % 20 === 0)
          log.warn({ err, failures }, 'stream read failed; backing off');
        await sleep(delay, this.#abort.signal);
      }
    }
  }

  /** The pause between reads of a steady flow; a stop() ends it at once. */
  async #batchWait(): Promise<void> {
    const ms = this.#o.batchWaitMs ?? 0;
    if (ms <= 0 || this.#stopping) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#endWait = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#endWait = undefined;
  }

  async #read(count: number): Promise<Entry[]> {
    const { blocking, keys, consumerName, blockMs = 1_000 } = this.#o;
    const reply = await blocking.xReadGroup(
      keys.scanGroup,
      consumerName,
      { key: keys.scanStream, id: '>' },
      {
        COUNT: count,
        BLOCK: blockMs,
      },
    );
    if (!reply) return [];
    const streams = reply as Array<{ messages: Entry[] }>;
    return streams.flatMap((s) => s.messages);
  }

  /** Takes over entries left idle by consumers that died; at most every claimIdleMs / 2. */
  async #reclaim(count: number): Promise<Entry[]> {
    const now = Date.now();
    if (now - this.#lastReclaim < this.#o.claimIdleMs / 2) return [];
    this.#lastReclaim = now;
    const { redis, keys, consumerName, claimIdleMs, log, metrics } = this.#o;
    const reply = await redis.xAutoClaim(
      keys.scanStream,
      keys.scanGroup,
      consumerName,
      claimIdleMs,
      '0-0',
      {
        COUNT: count,
      },
    );
    if (reply.deletedMessages.length > 0) {
      // Their entries were deleted from the stream while pending; XAUTOCLAIM has dropped them from
      // the PEL. Postgres still knows the content is unfinished, and the republisher resends it.
      log.warn({ ids: reply.deletedMessages }, 'pending entries no longer in the stream');
    }
    const entries = reply.messages.filter((m): m is Entry => m !== null);
    if (entries.length > 0) {
      metrics.reclaimed.inc(entries.length);
      log.info({ count: entries.length }, 'reclaimed entries from a stalled consumer');
    }
    return entries;
  }

  #dispatch(entry: Entry, redelivered: boolean): void {
    if (this.#inFlight.has(entry.id)) return;
    const task = this.#process(entry, redelivered).finally(() => {
      this.#inFlight.delete(entry.id);
      const wake = this.#slotFreed;
      this.#slotFreed = undefined;
      wake?.();
    });
    this.#inFlight.set(entry.id, task);
  }

  async #process(entry: Entry, redelivered: boolean): Promise<void> {
    const { log } = this.#o;
    const msg = decodeScanMessage(entry.message);
    let disposition: Disposition = 'ack';
    if (msg) {
      try {
        disposition = await this.#o.handle(msg, this.#abort.signal, { redelivered });
      } catch (err) {
        log.error(
          { err, entryId: entry.id, sha256: msg.sha256 },
          'scan handler failed; entry left pending',
        );
        disposition = 'keep';
      }
    } else {
      log.error({ entryId: entry.id, fields: entry.message }, 'malformed stream entry discarded');
    }
    if (disposition === 'keep') return;
    try {
      await this.#acks.submit(entry.id);
    } catch (err) {
      // Not acknowledged: it will be reclaimed, and the handler sees the content already done.
      log.warn({ err, entryId: entry.id }, 'acknowledgement failed');
    }
  }

  /** Resets the idle time of entries this consumer is working on so nobody reclaims them. */
  async #refreshInFlight(): Promise<void> {
    const ids = [...this.#inFlight.keys()];
    // One at a time: on a connection that stopped answering, a refresh every few seconds would
    // keep it busy and hide its silence from the dead-connection check (createRedis).
    if (ids.length === 0 || !this.#o.redis.isReady || this.#refreshing) return;
    const { redis, keys, consumerName } = this.#o;
    this.#refreshing = true;
    try {
      await redis.xClaimJustId(keys.scanStream, keys.scanGroup, consumerName, 0, ids);
    } catch {
      // the next refresh, or a reclaim, makes up for it
    } finally {
      this.#refreshing = false;
    }
  }

  async #leaveGroup(): Promise<void> {
    const { redis, keys, consumerName, log } = this.#o;
    try {
      // Deleting a consumer drops its pending entries; only leave when there are none.
      const pending = await redis.xPendingRange(keys.scanStream, keys.scanGroup, '-', '+', 1, {
        consumer: consumerName,
      });
      if (pending.length === 0)
        await redis.xGroupDelConsumer(keys.scanStream, keys.scanGroup, consumerName);
      else
        log.info(
          { pending: pending.length },
          'leaving pending entries for other workers to reclaim',
        );
    } catch (err) {
      log.warn({ err }, 'could not leave the consumer group');
    }
  }
}
