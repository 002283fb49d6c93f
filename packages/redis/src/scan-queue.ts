import type { Redis } from './client.js';
import type { RedisKeys } from './keys.js';

/** One stream entry asks for one content to be scanned; every job waiting on it completes with it. */
export interface ScanMessage {
  sha256: string;
  /** The upload that caused the scan ('' when republished), for log correlation only. */
  jobId: string;
  requestId: string;
}

export function encodeScanMessage(m: ScanMessage): Record<string, string> {
  return { sha256: m.sha256, job_id: m.jobId, request_id: m.requestId };
}

export function decodeScanMessage(fields: Record<string, string>): ScanMessage | null {
  const { sha256, job_id: jobId = '', request_id: requestId = '' } = fields;
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) return null;
  return { sha256, jobId, requestId };
}

export async function publishScan(redis: Redis, keys: RedisKeys, m: ScanMessage): Promise<string> {
  return redis.xAdd(keys.scanStream, '*', encodeScanMessage(m));
}

/**
 * Creates the consumer group (and the stream) if missing. Only BUSYGROUP means "already there";
 * any other error is real and is thrown.
 */
export async function ensureScanGroup(redis: Redis, keys: RedisKeys): Promise<void> {
  try {
    await redis.xGroupCreate(keys.scanStream, keys.scanGroup, '0', { MKSTREAM: true });
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('BUSYGROUP')) return;
    throw err;
  }
}
