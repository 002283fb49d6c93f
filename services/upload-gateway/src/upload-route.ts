import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { UploadInput } from '@scanner/db';
import { type DirectRequest, type DirectRoute, HttpError, sendJson } from '@scanner/http-kit';
import { discardContent } from '@scanner/storage';
import { drainRest, holdOpen } from './drain-request.js';
import type { UploadOutcome } from './gateway-metrics.js';
import { receiveUpload } from './receive-upload.js';
import {
  type RecordDeps,
  type Recorded,
  recordKnownCompleted,
  recordUpload,
} from './record-upload.js';
import { parseReprDigest } from './repr-digest.js';
import type { StorageGuard } from './storage-guard.js';

export interface UploadRouteDeps extends RecordDeps {
  guard: StorageGuard;
  maxUploadBytes: number;
  uploadTimeoutMs: number;
  jobRetentionMs: number;
}

// Multipart framing and the small fields we accept fit well within this; a Content-Length beyond
// the file limit plus this slack cannot hold a valid upload.
const MULTIPART_SLACK_BYTES = 256 * 1024;

// Bodies up to this size are hashed in memory and written (temp file + rename) only when their
// content is new: a duplicate never touches the disk, and new content costs one write instead of
// a write stream's open/write/close. Bounded per request, so memory stays flat (64 concurrent
// uploads hold at most 4 MiB); anything larger streams to a temp file as it arrives.
const IN_MEMORY_UPLOAD_BYTES = 64 * 1024;

function checkContentType(req: DirectRequest): void {
  const type = req.headers['content-type'];
  if (!type) {
    throw new HttpError(
      400,
      'not-multipart',
      'Bad Request',
      'send the file as multipart/form-data in a part named "file"',
    );
  }
  if (!/^multipart\/form-data\s*(;|$)/i.test(type)) {
    throw new HttpError(
      415,
      'unsupported-media-type',
      'Unsupported Media Type',
      'the request body must be multipart/form-data',
    );
  }
}

function respond(res: ServerResponse, recorded: Recorded): void {
  const { job } = recorded;
  if (recorded.kind === 'completed') {
    sendJson(res, 200, {
      job_id: job.jobId,
      status: 'completed',
      message: 'Content already scanned; results returned from the previous scan',
      deduplication: true,
      results: recorded.results,
      sha256: job.sha256,
      file_size: job.fileSize,
    });
    return;
  }
  sendJson(
    res,
    202,
    {
      job_id: job.jobId,
      status: 'pending',
      message: recorded.deduplicated
        ? 'Content already being scanned; this job completes with that scan'
        : 'File uploaded successfully, processing started',
      deduplication: recorded.deduplicated,
      sha256: job.sha256,
      file_size: job.fileSize,
    },
    { Location: `/api/v1/files/${job.jobId}` },
  );
}

function outcomeOf(recorded: Recorded): UploadOutcome {
  if (recorded.kind === 'completed') return 'duplicate_completed';
  if (recorded.deduplicated) return 'duplicate_in_flight';
  return recorded.rescan ? 'rescan' : 'new';
}

/** `POST /api/v1/files`, served without express (the gateway's one hot route). */
export function uploadRoute(deps: UploadRouteDeps): DirectRoute['handle'] {
  return async (req, res) => {
    try {
      await handleUpload(deps, req, res);
    } catch (err) {
      deps.metrics.uploads.inc({ outcome: 'rejected' });
      drainRest(req, res);
      throw err;
    }
  };
}

async function handleUpload(
  deps: UploadRouteDeps,
  req: DirectRequest,
  res: ServerResponse,
): Promise<void> {
  checkContentType(req);
  const announced = Number(req.headers['content-length']);
  if (Number.isFinite(announced) && announced > deps.maxUploadBytes + MULTIPART_SLACK_BYTES) {
    throw new HttpError(
      413,
      'file-too-large',
      'Content Too Large',
      `the file exceeds the limit of ${deps.maxUploadBytes} bytes`,
    );
  }
  const tier = await deps.guard.current();
  if (!tier.acceptsUploads) {
    throw new HttpError(
      507,
      'storage-full',
      'Insufficient Storage',
      'storage is at the emergency tier; uploads resume once space is freed',
      {
        'Retry-After': '60',
      },
    );
  }
  const digestHeader = req.headers['repr-digest'];
  const expectedSha256 = parseReprDigest(
    Array.isArray(digestHeader) ? digestHeader.join(', ') : digestHeader,
  );
  const jobId = randomUUID();
  const base = { jobId, requestId: req.id, expiresAt: new Date(Date.now() + deps.jobRetentionMs) };

  const received = await receiveUpload(req, {
    storageRoot: deps.storageRoot,
    maxBytes: deps.maxUploadBytes,
    memoryBytes: IN_MEMORY_UPLOAD_BYTES,
    idleTimeoutMs: deps.uploadTimeoutMs,
    // With a digest of content already scanned, the answer needs only the filename: it is given
    // before a single byte of content is read.
    beforeContent: expectedSha256
      ? async (originalFilename) => {
          const recorded = await recordKnownCompleted(
            deps,
            { ...base, sha256: expectedSha256, sizeBytes: 0, originalFilename },
            'digest_header',
          );
          if (!recorded) return false;
          deps.metrics.uploads.inc({ outcome: 'duplicate_completed' });
          deps.metrics.dedupHits.inc({ level: 'digest_header' });
          if (deps.log.isLevelEnabled('debug'))
            req.log.debug(
              { jobId, sha256: expectedSha256, outcome: 'duplicate_completed' },
              'upload answered from digest',
            );
          // The body is still coming: the connection must outlive this answer (see drainRest).
          holdOpen(res);
          respond(res, recorded);
          return true;
        }
      : undefined,
  });
  if (received.kind === 'answered') {
    // receiveUpload detached and paused the body; what is left of it is discarded.
    drainRest(req, res);
    return;
  }

  const { content, filename } = received;
  deps.metrics.bytesReceived.inc(content.sizeBytes);
  let placed = false;
  try {
    if (expectedSha256 && expectedSha256 !== content.sha256) {
      throw new HttpError(
        400,
        'digest-mismatch',
        'Bad Request',
        'the body does not match the Repr-Digest header; nothing was kept',
      );
    }
    const input: UploadInput = {
      ...base,
      sha256: content.sha256,
      sizeBytes: content.sizeBytes,
      originalFilename: filename,
    };
    const recorded = await recordUpload(deps, input, content);
    // New content and rescans were stored at their content address; duplicates were not.
    placed = recorded.kind === 'pending' && !recorded.deduplicated;
    const outcome = outcomeOf(recorded);
    deps.metrics.uploads.inc({ outcome });
    if (recorded.kind === 'completed') deps.metrics.dedupHits.inc({ level: recorded.level });
    if (outcome === 'duplicate_in_flight') deps.metrics.dedupHits.inc({ level: 'in_flight' });
    // Debug, not info: at thousands of uploads a second the line costs more than the rest of the
    // bookkeeping, and the metrics count every outcome; the request id travels with the scan.
    // Asked of the process's logger first: `req.log` makes the request's child logger, which a
    // line that is not written must not pay for.
    if (deps.log.isLevelEnabled('debug'))
      req.log.debug(
        { jobId, sha256: content.sha256, sizeBytes: content.sizeBytes, outcome, filename },
        'upload recorded',
      );
    respond(res, recorded);
  } finally {
    if (!placed) await discardContent(content);
  }
}
