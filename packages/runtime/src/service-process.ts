import { createServer, type RequestListener, type Server } from 'node:http';
import { type Config, ConfigError, loadConfig, type ServiceName } from '@scanner/config';
import { createDb, type Db } from '@scanner/db';
import { closeServer, createRegistry, listen, type Registry, Shutdown } from '@scanner/http-kit';
import { createLogger, type Logger } from '@scanner/logging';
import {
  closeRedis,
  connectRedis,
  createRedis,
  type Redis,
  type RedisKeys,
  redisKeys,
} from '@scanner/redis';

/** Everything a service's main.ts needs, created from the environment in one place. */
export interface ServiceProcess {
  config: Config;
  log: Logger;
  db: Db;
  redis: Redis;
  keys: RedisKeys;
  registry: Registry;
  shutdown: Shutdown;
  lifecycle: { shuttingDown: boolean };
}

/**
 * Loads and validates configuration (exiting with every problem listed when it is wrong), then
 * creates the logger and clients. Redis may be down at start: the client keeps reconnecting and
 * readiness reports it. The returned shutdown closes both clients last.
 */
export async function startServiceProcess(service: ServiceName): Promise<ServiceProcess> {
  let config: Config;
  try {
    config = loadConfig(service);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${service}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ service, level: config.log.level });
  const db = createDb({
    url: config.database.url,
    poolMax: config.database.poolMax,
    applicationName: service,
    preferIndexes: true,
  });
  let lastRedisError = '';
  const redis = createRedis({
    url: config.redis.url,
    onError: (err) => {
      // Reconnect attempts repeat the same error many times a second; log each change once.
      if (err.message !== lastRedisError) log.warn({ err }, 'redis connection error');
      lastRedisError = err.message;
    },
  });
  redis.on('ready', () => {
    if (lastRedisError) log.info('redis connection restored');
    lastRedisError = '';
  });
  if (!(await connectRedis(redis)))
    log.warn(
      { url: redactUrl(config.redis.url) },
      'redis unreachable at start; retrying in the background',
    );
  const lifecycle = { shuttingDown: false };
  const shutdown = new Shutdown(log, config.shutdown.timeoutMs);
  shutdown.installSignalHandlers();
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  return {
    config,
    log,
    db,
    redis,
    keys: redisKeys(config.redis.keyPrefix),
    registry: createRegistry(service),
    shutdown,
    lifecycle,
  };
}

/**
 * Listens on the configured port and registers the shutdown order: readiness goes 503, the server
 * stops accepting and drains, then `drain` steps run (added by the caller), then clients close.
 */
export async function serve(
  p: ServiceProcess,
  handler: RequestListener,
  drain: Array<[string, () => Promise<void>]> = [],
): Promise<Server> {
  const server = createServer(handler);
  // Slow-loris protection for headers; bodies are bounded by the upload timeout instead.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  const port = await listen(server, p.config.http.host, p.config.http.port);
  p.log.info({ host: p.config.http.host, port }, 'listening');
  p.shutdown.add('stop accepting work', () => {
    p.lifecycle.shuttingDown = true;
  });
  for (const [name, step] of drain) p.shutdown.add(name, step);
  p.shutdown
    .add('close http server', () => closeServer(server))
    .add('close redis', () => closeRedis(p.redis))
    .add('close database', () => p.db.destroy());
  return server;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable)';
  }
}
