import type { Logger } from '@scanner/logging';

export interface CompletedScan {
  sha256: string;
  jobId: string;
  requestId: string;
  sizeBytes: number;
  /** Jobs this scan finished. */
  jobs: number;
  /** The claim's attempt number; absent for a scan claimed and completed in one step. */
  attempt?: number;
}

/**
 * The info line that ties each upload's request id to its scan, written once per turn of the event
 * loop for all the scans completed in it. One line per scan cost a sixth of a small scan's CPU (the
 * write to stdout, the timestamp and the fixed fields of every line); a batch of them shares it,
 * and a search for a request id still finds its scan.
 */
export class CompletionLog {
  readonly #log: Logger;
  #pending: CompletedScan[] = [];
  #scheduled = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  add(scan: CompletedScan): void {
    this.#pending.push(scan);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes what is pending now (also called on shutdown). */
  flush(): void {
    this.#scheduled = false;
    const scans = this.#pending;
    if (scans.length === 0) return;
    this.#pending = [];
    this.#log.info({ count: scans.length, scans }, 'scans completed');
  }
}
