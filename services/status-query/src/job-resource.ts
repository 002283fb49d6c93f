import type { JobView, ScannedContent } from '@scanner/db';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** `GET /api/v1/files/{job_id}` body. Timestamps are ISO 8601 UTC with `Z`. */
export function jobResource(job: JobView) {
  return {
    job_id: job.jobId,
    status: job.status,
    original_filename: job.originalFilename,
    file_size: job.fileSize,
    sha256: job.sha256,
    results: job.results,
    error_message: job.errorMessage,
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
    completed_at: iso(job.completedAt),
    expires_at: iso(job.expiresAt),
  };
}

/** `GET /api/v1/hashes/{sha256}` body. */
export function hashResource(content: ScannedContent) {
  return {
    sha256: content.sha256,
    file_size: content.sizeBytes,
    results: content.results,
    scanned_at: iso(content.scannedAt),
  };
}
