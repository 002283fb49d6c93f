import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import {
  DEFAULT_MAX_PREPARED_STATEMENTS,
  preparingClient,
  StatementNames,
} from './prepared-statements.js';
import type { Database } from './schema.js';
import { closingSilentConnections, isReadTimeout } from './silent-connections.js';

// int8 (bigint) arrives as a string by default; sizes and counts here fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export type Db = Kysely<Database>;

export interface DbOptions {
  url: string;
  poolMax?: number;
  /** Fail fast instead of queueing behind a dead server. */
  connectionTimeoutMs?: number;
  /**
   * The server cancels a statement running longer (default 30 s). A query with no reply by this
   * plus as much again (at most 5 s more) is failed on the client and its connection closed: one
   * left half-open would otherwise hold every later query on it for minutes (silent-connections.ts).
   */
  statementTimeoutMs?: number;
  applicationName?: string;
  /**
   * Run queries with parameters as named prepared statements, parsed and planned once per
   * connection instead of for every call (see prepared-statements.ts). Default true.
   */
  prepareStatements?: boolean;
  /** How many distinct statement texts get a name; later ones run unnamed. Default 200. */
  maxPreparedStatements?: number;
  /**
   * Sessions run with `enable_seqscan = off`, for pools whose every query finds rows by a key or a
   * partial index (the services'). A statement's plan is kept per connection, and a generic plan
   * made while a table is small (a fresh deployment: every table empty) scans the whole table,
   * and goes on doing so as the table grows, until an ANALYZE happens to invalidate it. Measured
   * on a fresh database under load: the worker's completion batches read 47 buffers per scan
   * instead of 26, and Postgres CPU per job grew with every run (0.42 → 0.75 ms; 0.27–0.35 with
   * this). A table with no usable index is still scanned whole. Default false.
   */
  preferIndexes?: boolean;
}

/**
 * The connection URL with one more server setting in its `options` (`-c name=value`), next to any
 * it has: pg takes a URL's options over the config's, so the setting has to go into the URL.
 */
function withServerSetting(url: string, setting: string): string {
  try {
    const parsed = new URL(url);
    const own = parsed.searchParams.get('options') ?? '';
    parsed.searchParams.set('options', `${own} -c ${setting}`.trim());
    return parsed.toString();
  } catch {
    // Not a URL; pg reports that when it connects.
    return url;
  }
}

export function createDb(options: DbOptions): Db {
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  const Client = closingSilentConnections(
    options.prepareStatements === false
      ? pg.Client
      : preparingClient(
          new StatementNames(options.maxPreparedStatements ?? DEFAULT_MAX_PREPARED_STATEMENTS),
        ),
  );
  const pool = new pg.Pool({
    connectionString: options.preferIndexes
      ? withServerSetting(options.url, 'enable_seqscan=off')
      : options.url,
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + Math.min(statementTimeoutMs, 5_000),
    application_name: options.applicationName ?? 'scanner',
    Client,
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  // pg-pool only watches idle clients: one checked out and idle between queries (the janitor holds
  // one for its advisory lock) would raise an unhandled 'error' and kill the process when its
  // server goes away. With this, the next query on it fails instead, and is answered as a 503.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Errors that mean "Postgres is unreachable or going away", as opposed to a bad query. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    // 08xxx connection exceptions, 57P01-57P03 admin shutdown / crash / cannot connect now.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03')
      return true;
    if (
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)
    ) {
      return true;
    }
  }
  if (isReadTimeout(err)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED/i.test(
    err.message,
  );
}
