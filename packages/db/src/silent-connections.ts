import type pg from 'pg';

// What pg rejects a query with when its `query_timeout` passes without a reply.
const READ_TIMEOUT = 'Query read timeout';

/** A query that got no reply within the pool's deadline (see closingSilentConnections). */
export function isReadTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === READ_TIMEOUT;
}

type ClientClass = new (config?: pg.ClientConfig) => pg.Client;

/**
 * `Base` whose connection is closed as soon as a query on it goes unanswered past the pool's
 * `query_timeout`. pg fails that query but keeps the connection, and every later query on it waits
 * behind the unanswered one: on a connection left half-open (the server's host vanished, a network
 * fault dropped it without a reset) each would time out in turn, until TCP gives up some fifteen
 * minutes later. Closed, the connection is dropped by the pool when released, and the next query
 * gets a new one. `query_timeout` sits above `statement_timeout`, so a query the server is still
 * working on is cancelled by the server first and never gets here.
 */
export function closingSilentConnections(Base: ClientClass): ClientClass {
  // Every ClientClass is pg.Client or a subclass of it; the cast only restores its statics.
  const Parent = Base as typeof pg.Client;
  return class ClosingSilentConnections extends Parent {
    // biome-ignore lint/suspicious/noExplicitAny: pg.Client.query is overloaded many ways.
    override query(...args: any[]): any {
      const result: unknown = super.query(...(args as Parameters<pg.Client['query']>));
      // Kysely queries in the promise form; a callback or a submittable keeps pg's own handling.
      if (result instanceof Promise) {
        // A branch of its own: the caller still gets the rejection.
        result.catch((err: unknown) => {
          if (isReadTimeout(err)) this.#close();
        });
      }
      return result;
    }

    #close(): void {
      const client = this as unknown as {
        _queryable: boolean;
        connection: { stream: { destroy(): void } };
      };
      // Now, not when the socket's close event comes: the caller releases the client to the pool
      // first, and pg-pool keeps a released client unless it is marked unusable this way.
      client._queryable = false;
      client.connection.stream.destroy();
    }
  };
}
