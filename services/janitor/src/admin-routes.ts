import { createHash, timingSafeEqual } from 'node:crypto';
import type { VolumeUsage } from '@scanner/core';
import { HttpError } from '@scanner/http-kit';
import { type RequestHandler, Router } from 'express';
import type { PassReport } from './cleanup-pass.js';
import type { Janitor } from './janitor.js';

const REALM = 'Bearer realm="scanner-janitor"';

/**
 * Compares in constant time: both sides are hashed first, so neither the position of the first
 * difference nor the length of the expected token shows in the timing.
 */
export function tokenMatches(presented: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** RFC 6750 bearer authentication; 401 problem+json with `WWW-Authenticate` otherwise. */
export function requireBearer(expected: string): RequestHandler {
  return (req, _res, next) => {
    const match = /^Bearer +([^\s]+) *$/i.exec(req.get('authorization') ?? '');
    if (!match?.[1]) {
      throw new HttpError(401, 'unauthorized', 'Unauthorized', 'a bearer token is required', {
        'WWW-Authenticate': REALM,
      });
    }
    if (!tokenMatches(match[1], expected)) {
      throw new HttpError(401, 'unauthorized', 'Unauthorized', 'the bearer token is not valid', {
        'WWW-Authenticate': `${REALM}, error="invalid_token"`,
      });
    }
    next();
  };
}

function parseDryRun(value: unknown): boolean {
  if (value === undefined) return false;
  if (value === 'true' || value === '1' || value === 'yes') return true;
  if (value === 'false' || value === '0' || value === 'no') return false;
  throw new HttpError(400, 'invalid-dry-run', 'Bad Request', 'dry_run must be true or false');
}

/** `POST /admin/cleanup[?dry_run=true]`: runs a pass now and reports what it did (or would do). */
export function adminRoutes(deps: {
  janitor: Pick<Janitor, 'runPass'>;
  adminToken: string;
}): Router {
  const router = Router();
  router.post('/admin/cleanup', requireBearer(deps.adminToken), async (req, res) => {
    const dryRun = parseDryRun(req.query.dry_run);
    const report = await deps.janitor.runPass({ dryRun, trigger: 'admin' });
    res.json(passResource(report));
  });
  return router;
}

function usageResource(u: VolumeUsage) {
  return {
    total_bytes: u.totalBytes,
    used_bytes: u.usedBytes,
    free_bytes: u.freeBytes,
    used_ratio: u.usedRatio,
    percent_used: Math.round(u.usedRatio * 10_000) / 100,
  };
}

/** The wire form of a pass report (snake_case, base units). */
export function passResource(r: PassReport) {
  return {
    outcome: r.outcome,
    dry_run: r.dryRun,
    tier: r.storage?.tier ?? null,
    usage: r.storage ? usageResource(r.storage.usage) : null,
    usage_after: r.storage?.usageAfter ? usageResource(r.storage.usageAfter) : null,
    retention_seconds: r.storage ? r.storage.retentionMs / 1000 : null,
    files_deleted: r.filesDeleted,
    bytes_deleted: r.bytesDeleted,
    file_delete_failures: r.fileDeleteFailures,
    temp_files_removed: r.tempFilesRemoved,
    temp_bytes_removed: r.tempBytesRemoved,
    orphan_files_removed: r.orphanFilesRemoved,
    orphan_bytes_removed: r.orphanBytesRemoved,
    dirs_pruned: r.dirsPruned,
    jobs_expired: r.jobsExpired,
    scans_republished: r.scansRepublished,
    started_at: r.startedAt.toISOString(),
    duration_seconds: r.durationMs / 1000,
  };
}
