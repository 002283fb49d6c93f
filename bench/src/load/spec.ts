import type { LetterCounts } from '@scanner/core';

/** What the load generator sends, and what every answer must be for the run to verify. */
export interface LoadSpec {
  /** Full URL the uploads are POSTed to (loopback). */
  url: string;
  concurrency: number;
  /** Timed requests, at most. */
  count: number;
  /** Stop issuing timed requests after this long. */
  maxMs: number;
  /** Untimed requests first (connections, JIT); verified like the rest. */
  warmup: number;
  content: {
    bytes: number;
    salt: string;
    /**
     * `unique`: every request its own content (stamp index = request index); `same`: every
     * request the content stamped 0.
     */
    mode: 'unique' | 'same';
    /**
     * `memory`: multipart bodies built before the run; `stream`: generated as they are sent
     * (for sizes that must not sit in the generator's memory).
     */
    body: 'memory' | 'stream';
  };
  /**
   * Each lane starts a request at most every `paceMs` (a light flow, e.g. to measure latency on an
   * idle system); as fast as answers come when absent.
   */
  paceMs?: number;
  /** Send `Repr-Digest` with the content's SHA-256 (hash-first requests). */
  reprDigest?: boolean;
  expect: {
    status: number[];
    /** The `sha256` answered must be the content's (the system) or the raw body's (a ceiling). */
    sha256: 'content' | 'body';
    deduplication?: boolean;
    /** The answer carries these results (content already scanned). */
    results?: LetterCounts;
  };
  /** Return each timed request's job id and start time (epoch ms). */
  returnJobs?: boolean;
}

export interface LoadReport {
  /** Every request sent, warm-up included (for per-request costs measured around the run). */
  sent: number;
  /** Timed requests sent and answered as expected / otherwise. */
  requests: number;
  ok: number;
  failed: number;
  /** The first few failures, described. */
  failures: string[];
  statuses: Record<string, number>;
  /** First timed request sent to last answer received. */
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  contentBytes: number;
  /** The load generator's own CPU per timed request (it shares the machine with the servers). */
  cpuMsPerRequest: number;
  jobs?: Array<{ jobId: string; startedAt: number; sha256: string }>;
}
