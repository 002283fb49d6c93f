import { createClient } from 'redis';

export type Redis = ReturnType<typeof createClient>;

export interface RedisOptions {
  url: string;
  /** Called for connection errors; node-redis reconnects by itself. */
  onError?: (err: Error) => void;
  connectTimeoutMs?: number;
  /**
   * A connection on which nothing has moved for this long is dropped and reopened (default 15 s;
   * must exceed the longest BLOCK a command asks for). See createRedis.
   */
  silenceTimeoutMs?: number;
}

/**
 * A client that fails commands at once while disconnected instead of queueing them: callers treat
 * Redis as optional (caches) or retry (queue), and must never hang on it. It reconnects forever with
 * capped backoff.
 *
 * A connection left half-open (the host vanished, a network fault dropped it silently) gets no
 * error: commands wait for replies that never come, until TCP gives up some fifteen minutes
 * later, and a worker blocked on the stream read meanwhile reads nothing even once Redis is back.
 * So an idle connection sends a PING every third of `silenceTimeoutMs`, and one on which nothing
 * has been sent or received for that long is taken for dead: closed (its commands fail) and
 * reopened. A PING waits for its reply before the next, and the services send nothing more on a
 * connection whose calls are unanswered (RedisStallGuard, one read and one ack batch at a time
 * in the worker), so a dead connection falls silent and is noticed.
 */
export function createRedis(options: RedisOptions): Redis {
  const silence = options.silenceTimeoutMs ?? 15_000;
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    pingInterval: Math.max(1, Math.floor(silence / 3)),
    socket: {
      socketTimeout: silence,
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      reconnectStrategy: (retries) =>
        Math.min(50 * 2 ** retries, 2_000) + Math.floor(Math.random() * 100),
    },
  });
  client.on('error', (err: Error) => options.onError?.(err));
  return client;
}

/**
 * Connects without letting a Redis outage at start-up stop the service: the client keeps trying in
 * the background and the readiness probe reports it.
 */
export async function connectRedis(client: Redis, timeoutMs = 2_000): Promise<boolean> {
  const connecting = client.connect().then(
    () => true,
    () => false,
  );
  const timer = new Promise<boolean>((resolve) =>
    setTimeout(() => resolve(false), timeoutMs).unref(),
  );
  return Promise.race([connecting, timer]);
}

/** Closes a client whatever its state; never throws. */
export async function closeRedis(client: Redis): Promise<void> {
  try {
    if (client.isOpen) await client.close();
  } catch {
    client.destroy();
  }
}

/** A Redis call that did not answer within its deadline (it may still answer later). */
export class RedisTimeoutError extends Error {
  override name = 'RedisTimeoutError';
}

/** Races a Redis call against a deadline so a half-open connection cannot stall a request. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new RedisTimeoutError(`redis ${what} timed out after ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Deadlines for the optional Redis calls of a request path (cache reads and writes, publishing),
 * one guard per client. Replies on a connection come in command order, so once a call has timed
 * out unanswered every later one would wait at least as long: until that call settles (answered,
 * or failed when the client reconnects) calls are refused at once instead of queueing behind it.
 * Callers then take their fallback (Postgres, the republisher) without each waiting out its own
 * deadline, and nothing piles up in the client while Redis is stalled.
 */
export class RedisStallGuard {
  #unanswered: Promise<unknown> | undefined;

  constructor(readonly client: Redis) {}

  /** Whether a call would be sent now: the client is connected and nothing is left unanswered. */
  get usable(): boolean {
    return this.client.isReady && this.#unanswered === undefined;
  }

  /** Sends `command` with a deadline; rejects at once while the guard is not usable. */
  async call<T>(command: (client: Redis) => Promise<T>, ms: number, what: string): Promise<T> {
    if (!this.client.isReady) throw new Error(`redis ${what} skipped: not connected`);
    if (this.#unanswered)
      throw new Error(`redis ${what} skipped: an earlier call is still unanswered`);
    const sent = command(this.client);
    try {
      return await withTimeout(sent, ms, what);
    } catch (err) {
      if (err instanceof RedisTimeoutError) {
        // The latest call to time out is the last to answer: it alone decides when calls resume.
        this.#unanswered = sent;
        const settled = () => {
          if (this.#unanswered === sent) this.#unanswered = undefined;
        };
        sent.then(settled, settled);
      }
      throw err;
    }
  }
}
