import { type Db, isConnectionError } from '@scanner/db';
import { type ErrorClassifier, HttpError } from '@scanner/http-kit';
import { type Redis, withTimeout } from '@scanner/redis';
import { sql } from 'kysely';

const CHECK_TIMEOUT_MS = 1_000;

export async function databaseReachable(db: Db): Promise<boolean> {
  try {
    await withTimeout(sql`select 1`.execute(db), CHECK_TIMEOUT_MS, 'db check');
    return true;
  } catch {
    return false;
  }
}

export async function redisReachable(redis: Redis): Promise<boolean> {
  if (!redis.isReady) return false;
  try {
    return (await withTimeout(redis.ping(), CHECK_TIMEOUT_MS, 'ping')) === 'PONG';
  } catch {
    return false;
  }
}

/** Postgres being unreachable is a 503 the client should retry, never a 500. */
export const classifyDependencyError: ErrorClassifier = (err) =>
  isConnectionError(err)
    ? new HttpError(
        503,
        'database-unavailable',
        'Service Unavailable',
        'the database is unreachable; retry shortly',
        {
          'Retry-After': '5',
        },
      )
    : undefined;
