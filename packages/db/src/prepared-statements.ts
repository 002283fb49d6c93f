// Named prepared statements for every parameterized query, transparently for the repositories.
//
// pg sends a query with values as an *unnamed* statement: Parse, Bind, Execute every time, so
// Postgres parses, analyzes and plans the same text again for each call (measured: about half of
// the 0.35–0.44 ms backend CPU of the gateway's insert for new content). A *named* statement is
// parsed once per connection and only bound and executed afterwards; pg remembers per connection
// which names it has parsed. The pool is given a pg.Client subclass whose `query(text, values)`
// sends `{ name, text, values }` instead, the name a hash of the text, so kysely (which calls
// `client.query(sql, parameters)` for every compiled query) and so every repository gets this
// without a change.
//
// Bounds: only texts with parameters are named (statements without values go through the simple
// protocol as before: BEGIN/COMMIT, DDL, multi-statement migrations), and only the first `limit`
// distinct texts a pool sees; later ones run unnamed as before. Dynamic SQL (an IN-list of varying
// length, a batch insert) therefore cannot grow the statements kept on every connection forever.
// Each named text costs a parsed statement and its cached plan in every backend that ran it.
//
// Errors: a statement that fails to parse is not remembered (pg forgets the name), and a bind or
// execute error leaves a valid statement behind, so neither poisons the connection. A schema change
// under a prepared statement (a column added to a table read with `returning *`) makes Postgres
// refuse it with "cached plan must not change result type" (0A000) on every later execution on
// that connection; a statement removed behind pg's back (DEALLOCATE/DISCARD ALL) fails with 26000.
// Migrations normally run before the services start, but for a migration applied under running
// services: the client stops using that name (0A000: a fresh name from then on; 26000: parsed
// again), and when the query ran outside a transaction block (so nothing else was rolled back) it
// is retried once. Inside a transaction the error is the caller's, like any other: the transaction
// is aborted, and the next use of the text on that connection works.
import { createHash } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_MAX_PREPARED_STATEMENTS = 200;

/** Which statement texts get a name: the first `limit` distinct ones, per pool. */
export class StatementNames {
  readonly #limit: number;
  readonly #byText = new Map<string, string>();
  readonly #texts = new Map<string, string>();

  constructor(limit: number = DEFAULT_MAX_PREPARED_STATEMENTS) {
    this.#limit = limit;
  }

  /** How many texts have a name. */
  get size(): number {
    return this.#byText.size;
  }

  /** The name for this text, or undefined when it is to run unnamed. */
  nameFor(text: string): string | undefined {
    const known = this.#byText.get(text);
    if (known !== undefined || this.#byText.size >= this.#limit) return known;
    // 80 bits of SHA-256: pg refuses one name for two texts, so a collision (never expected with at
    // most a few hundred texts) just leaves the second text unnamed.
    const name = `s${createHash('sha256').update(text).digest('hex').slice(0, 20)}`;
    const holder = this.#texts.get(name);
    if (holder !== undefined && holder !== text) return undefined;
    this.#byText.set(text, name);
    this.#texts.set(name, text);
    return name;
  }
}

type Callback = (err: Error | undefined, result?: pg.QueryResult) => void;

/**
 * "cached plan must not change result type": the statement's tables changed under it. Told by the
 * server function that raises it, which does not depend on the server's message language.
 */
function isStalePlan(err: unknown): boolean {
  const { code, routine } = err as { code?: unknown; routine?: unknown };
  return (
    err instanceof Error &&
    code === '0A000' &&
    (routine === 'RevalidateCachedQuery' ||
      err.message.includes('cached plan must not change result type'))
  );
}

/** `prepared statement "name" does not exist`: removed on the server (DEALLOCATE, DISCARD ALL). */
function isMissingStatement(err: unknown, name: string): boolean {
  return (
    err instanceof Error &&
    (err as { code?: unknown }).code === '26000' &&
    err.message.includes(name)
  );
}

/** The pg.Client class for a pool whose parameterized queries run as named statements. */
export function preparingClient(
  names: StatementNames,
): new (
  config?: pg.ClientConfig,
) => pg.Client {
  return class PreparingClient extends pg.Client {
    /** Names this connection has retired after a stale plan, by how often: base name → count. */
    readonly #retired = new Map<string, number>();

    // biome-ignore lint/suspicious/noExplicitAny: pg's overloads (promise, callback, submittable).
    override query(config: any, values?: any, callback?: any): any {
      if (typeof config !== 'string' || !Array.isArray(values) || values.length === 0) {
        return super.query(config, values, callback);
      }
      const base = names.nameFor(config);
      if (base === undefined) return super.query(config, values, callback);
      const result = this.#named(config, values, base);
      if (typeof callback !== 'function') return result;
      result.then(
        (res) => (callback as Callback)(undefined, res),
        (err) => (callback as Callback)(err),
      );
      return undefined;
    }

    async #named(text: string, values: unknown[], base: string): Promise<pg.QueryResult> {
      const retired = this.#retired.get(base);
      const name = retired === undefined ? base : `${base}_${retired}`;
      // Idle and outside a transaction block: this query runs next, in its own implicit
      // transaction, so a failure before it executed can be retried without changing anything.
      const retriable =
        (this as unknown as { readyForQuery?: boolean }).readyForQuery === true &&
        this.getTransactionStatus() === 'I';
      try {
        return await super.query({ name, text, values });
      } catch (err) {
        if (isStalePlan(err)) {
          this.#retired.set(base, (retired ?? 0) + 1);
          if (retriable) return await super.query(text, values);
        } else if (isMissingStatement(err, name)) {
          const parsed = (
            this.connection as unknown as { parsedStatements: Record<string, string> }
          ).parsedStatements;
          delete parsed[name];
          if (retriable) return await super.query({ name, text, values });
        }
        throw err;
      }
    }
  };
}
