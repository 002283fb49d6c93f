/** Every Redis name the system uses, in one place. The prefix isolates tests and tenants. */
export interface RedisKeys {
  prefix: string;
  /** The work queue: one entry per content to scan. */
  scanStream: string;
  scanGroup: string;
  /** Poison messages, with the reason they were given up. */
  deadLetterStream: string;
  fileResults(sha256: string): string;
  jobStatus(jobId: string): string;
}

export function redisKeys(prefix = ''): RedisKeys {
  return {
    prefix,
    scanStream: `${prefix}scan_jobs`,
    // Group names live inside the stream key, so the prefix already isolates them.
    scanGroup: 'scanner_workers',
    deadLetterStream: `${prefix}scan_jobs:dead`,
    fileResults: (sha256) => `${prefix}file:${sha256}:results`,
    jobStatus: (jobId) => `${prefix}job:${jobId}:status`,
  };
}
