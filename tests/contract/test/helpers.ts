import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LETTERS } from '@scanner/api-contract';
import { waitFor } from '@scanner/testing';
import { expect } from 'vitest';
import { call } from './contract-client.js';

export const sha256Hex = (content: Buffer | string) =>
  createHash('sha256').update(content).digest('hex');
export const reprDigest = (content: Buffer | string) =>
  `sha-256=:${createHash('sha256').update(content).digest('base64')}:`;

/** Content no other test (or earlier run) has uploaded. */
export const uniqueContent = (label: string) =>
  `${label} ${randomBytes(12).toString('hex')} The quick brown fox\n`;

/** Deliberately naive reference: one byte at a time. */
export function referenceCounts(content: Buffer | string): Record<string, number> {
  const counts = Object.fromEntries(LETTERS.map((l) => [l, 0]));
  for (const b of Buffer.from(content)) {
    const upper = b >= 97 && b <= 122 ? b - 32 : b;
    if (upper >= 65 && upper <= 90)
      counts[String.fromCharCode(upper)] = (counts[String.fromCharCode(upper)] ?? 0) + 1;
  }
  return counts;
}

/** Polls the job (every answer validated against the document) until it is completed or failed. */
export function pollJob(baseUrl: string, jobId: string, timeoutMs = 30_000) {
  return waitFor(
    async () => {
      const res = await call('GET', `${baseUrl}/api/v1/files/${jobId}`);
      // A job id is never returned before its row is committed: never a 404 here.
      expect(res.status).toBe(200);
      const body = res.body as Record<string, unknown>;
      return body.status === 'completed' || body.status === 'failed' ? body : undefined;
    },
    { timeoutMs, intervalMs: 25, message: `job ${jobId} to finish` },
  );
}

/** Every file under the volume (content addresses and temp files). */
export async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
