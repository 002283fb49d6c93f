import { connect, createServer, type Server, type Socket } from 'node:net';

/** Both sides of one proxied connection. */
interface Link {
  client: Socket;
  upstream: Socket;
}

/**
 * A loopback TCP proxy a test can cut and restore, to make Postgres or Redis really unreachable
 * for one client (connections refused and existing ones reset) without stopping the shared server.
 * It can also stall: connections stay open but nothing gets through, like a dependency that is
 * connected but does not answer (a paused process, a full link, a half-open socket), which a
 * client only notices through its own timeouts.
 */
export class TcpProxy {
  readonly #sockets = new Set<Socket>();
  readonly #links = new Set<Link>();
  readonly #severed = new Set<Link>();
  #server: Server | undefined;
  #port = 0;
  #stalled = false;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get port(): number {
    return this.#port;
  }

  /** Starts accepting (on the same port as before, once it has a port). */
  async start(): Promise<number> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      const link = { client, upstream };
      this.#links.add(link);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => {
          this.#sockets.delete(s);
          this.#links.delete(link);
          this.#severed.delete(link);
        });
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      // A connection opened while stalled is held too (a reconnect must not get around a stall);
      // sockets do not read until piped, so its bytes wait in the kernel until resume().
      if (!this.#stalled) flow(link);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : this.#port;
    this.#server = server;
    return this.#port;
  }

  /**
   * Stops forwarding in both directions until resume(), on open connections and new ones alike.
   * Nothing is dropped: bytes are held, and connections stay open and accepted.
   */
  stall(): void {
    this.#stalled = true;
    for (const { client, upstream } of this.#links) {
      client.unpipe(upstream).pause();
      upstream.unpipe(client).pause();
    }
  }

  /** Delivers what was held, in order, and forwards again (not on severed connections). */
  resume(): void {
    if (!this.#stalled) return;
    this.#stalled = false;
    for (const link of this.#links) if (!this.#severed.has(link)) flow(link);
  }

  /**
   * Kills the open connections without either side hearing of it, as a network fault or a
   * vanished host leaves them half-open: nothing passes on them again and nothing closes them.
   * New connections work as usual, so a client that notices and reconnects gets through.
   */
  sever(): void {
    for (const link of this.#links) {
      link.client.unpipe(link.upstream).pause();
      link.upstream.unpipe(link.client).pause();
      this.#severed.add(link);
    }
  }

  /** Refuses new connections and resets every open one. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.resetAndDestroy();
    this.#sockets.clear();
    this.#links.clear();
    this.#severed.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function flow({ client, upstream }: Link): void {
  client.pipe(upstream);
  upstream.pipe(client);
}
