import { createClient } from 'redis';

export type Redis = ReturnType<typeof createClient>;

export interface RedisOptions {
  url: string;
  /** Called for connection errors; node-redis reconnects by itself. */
  onError?: (err: Error) => void;
  connectTimeoutMs?: number;
}

/**
 * A client that fails commands at once while disconnected instead of queueing them: callers treat
 * Redis as optional (caches) or retry (queue), and must never hang on it. It reconnects forever with
 * capped backoff.
 */
export function createRedis(options: RedisOptions): Redis {
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    socket: {
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

/** Races a Redis call against a deadline so a half-open connection cannot stall a request. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis ${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
