export interface GroupCommitOptions<T> {
  /** Most items per statement. */
  maxBatch?: number;
  /**
   * Most statements in flight at once (default 1). While they run, new items queue and go out
   * together next: under load batches grow by themselves, and an idle system still sends each item
   * at once.
   */
  maxInFlight?: number;
  /** Items with the same key never share a batch (a later one waits for the next). */
  key?: (item: T) => string;
  /**
   * Whether a failed batch is tried again item by item, so one bad item fails alone rather than
   * taking its batch-mates with it (default: never). Connection errors are not worth it: they
   * fail every item.
   */
  retrySingly?: (err: unknown) => boolean;
  /** Told the size of every batch sent (not of item-by-item retries), e.g. for a histogram. */
  onBatch?: (size: number) => void;
}

interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces single-item writes issued concurrently (e.g. one per HTTP request) into one statement
 * per batch: one round trip, one parse-bind-execute and one commit for many rows. `run` gets the
 * items and returns one result per item, in order.
 */
export class GroupCommit<T, R> {
  readonly #run: (items: T[]) => Promise<R[]>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #key: ((item: T) => string) | undefined;
  readonly #retrySingly: (err: unknown) => boolean;
  readonly #onBatch: ((size: number) => void) | undefined;
  #queue: Waiting<T, R>[] = [];
  #inFlight = 0;
  #scheduled = false;
  #idle: Array<() => void> = [];

  constructor(run: (items: T[]) => Promise<R[]>, options: GroupCommitOptions<T> = {}) {
    this.#run = run;
    this.#maxBatch = options.maxBatch ?? 64;
    this.#maxInFlight = options.maxInFlight ?? 1;
    this.#key = options.key;
    this.#retrySingly = options.retrySingly ?? (() => false);
    this.#onBatch = options.onBatch;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves once nothing is queued or running (e.g. before a shutdown). */
  drained(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  // Flushes after the current turn of the event loop, so that requests handled in the same turn
  // share a statement; a statement finishing flushes whatever queued meanwhile.
  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0 || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#maxInFlight) {
      const batch = this.#take();
      this.#onBatch?.(batch.length);
      this.#inFlight++;
      void this.#execute(batch).finally(() => {
        this.#inFlight--;
        this.#schedule();
        if (this.#queue.length === 0 && this.#inFlight === 0)
          for (const wake of this.#idle.splice(0)) wake();
      });
    }
  }

  #take(): Waiting<T, R>[] {
    if (!this.#key) return this.#queue.splice(0, this.#maxBatch);
    const batch: Waiting<T, R>[] = [];
    const rest: Waiting<T, R>[] = [];
    const keys = new Set<string>();
    for (const waiting of this.#queue) {
      const key = this.#key(waiting.item);
      if (batch.length < this.#maxBatch && !keys.has(key)) {
        keys.add(key);
        batch.push(waiting);
      } else {
        rest.push(waiting);
      }
    }
    this.#queue = rest;
    return batch;
  }

  async #execute(batch: Waiting<T, R>[]): Promise<void> {
    try {
      const results = await this.#run(batch.map((w) => w.item));
      if (results.length !== batch.length)
        throw new Error(`group commit: ${results.length} results for ${batch.length} items`);
      batch.forEach((w, i) => {
        w.resolve(results[i] as R);
      });
    } catch (err) {
      if (batch.length === 1 || !this.#retrySingly(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      await Promise.all(
        batch.map((w) =>
          this.#run([w.item]).then(
            (results) => w.resolve(results[0] as R),
            (itemErr: unknown) => w.reject(itemErr),
          ),
        ),
      );
    }
  }
}
