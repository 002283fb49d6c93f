import type { Server } from 'node:http';
import type { Logger } from '@scanner/logging';

type Step = { name: string; run: () => Promise<void> | void };

/**
 * The one shutdown path of a service. Steps run in the order added (stop taking work, drain,
 * close clients); each runs even if an earlier one failed. `stop()` is idempotent: a second signal
 * waits for the same shutdown. A deadline bounds the whole thing.
 */
export class Shutdown {
  readonly #steps: Step[] = [];
  #done: Promise<void> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  add(name: string, run: Step['run']): this {
    this.#steps.push({ name, run });
    return this;
  }

  get started(): boolean {
    return this.#done !== undefined;
  }

  stop(reason: string): Promise<void> {
    this.#done ??= this.#runAll(reason);
    return this.#done;
  }

  async #runAll(reason: string): Promise<void> {
    this.log.info({ reason }, 'shutting down');
    const deadline = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), this.timeoutMs).unref(),
    );
    const steps = (async () => {
      for (const step of this.#steps) {
        try {
          await step.run();
        } catch (err) {
          this.log.error({ err, step: step.name }, 'shutdown step failed');
        }
      }
    })();
    if ((await Promise.race([steps, deadline])) === 'timeout') {
      this.log.error({ timeoutMs: this.timeoutMs }, 'shutdown deadline passed; exiting anyway');
      process.exitCode = 1;
      return;
    }
    this.log.info('shutdown complete');
  }

  /** SIGTERM/SIGINT start the shutdown; the process exits when it is done. */
  installSignalHandlers(): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        void this.stop(signal).finally(() => process.exit());
      });
    }
  }
}

export async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

/** Stops accepting connections and waits for in-flight requests; idle keep-alive sockets close now. */
export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
}
