import type { OpenApiDocument, Reference, Response, Schema } from './openapi-types.js';

export const PROBLEM_TYPE_PREFIX = 'https://scanner.dev/problems/';
export const LETTERS = Array.from({ length: 26 }, (_, i) => String.fromCharCode(65 + i));

const schema = (name: string): Reference => ({ $ref: `#/components/schemas/${name}` });
const response = (name: string): Reference => ({ $ref: `#/components/responses/${name}` });
const parameter = (name: string): Reference => ({ $ref: `#/components/parameters/${name}` });
const header = (name: string): Reference => ({ $ref: `#/components/headers/${name}` });
const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });

/** Every answer carries the request id (echoed when the client sent a well-formed one). */
const requestIdHeader = { 'X-Request-Id': header('XRequestId') };

const json = (s: Schema) => ({ 'application/json': { schema: s } });

/** A problem+json response; `codes` are the machine reasons (the last segment of `type`). */
function problem(
  description: string,
  codes: string[],
  headers: Record<string, Reference> = {},
): Response {
  return {
    description: `${description}\n\n\`type\` is \`${PROBLEM_TYPE_PREFIX}{code}\` with code one of: ${codes.map((c) => `\`${c}\``).join(', ')}.`,
    headers: { ...requestIdHeader, ...headers },
    content: { 'application/problem+json': { schema: schema('Problem') } },
  };
}

const isoUtc: Schema = {
  type: 'string',
  format: 'date-time',
  // ISO 8601 in UTC, always with `Z` (never an offset).
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$',
  examples: ['2025-01-31T12:34:56.789Z'],
};

const byteCount: Schema = { type: 'integer', minimum: 0, description: 'Bytes.' };

const schemas: Record<string, Schema> = {
  JobId: { type: 'string', format: 'uuid', examples: ['3f2b8c1e-9d4a-4b7e-8f00-1a2b3c4d5e6f'] },
  Sha256: {
    type: 'string',
    pattern: '^[0-9a-f]{64}$',
    description: 'SHA-256 of the file content, lowercase hex.',
    examples: ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  },
  JobStatus: { type: 'string', enum: ['pending', 'processing', 'completed', 'failed'] },
  LetterCounts: {
    type: 'object',
    description:
      'How often each ASCII letter occurs, case-insensitive (a and A both count for A). All 26 keys.',
    properties: Object.fromEntries(LETTERS.map((l) => [l, { type: 'integer', minimum: 0 }])),
    required: LETTERS,
    additionalProperties: false,
  },
  UploadAccepted: {
    type: 'object',
    description: 'A job was recorded; its results arrive later at `Location`.',
    properties: {
      job_id: schema('JobId'),
      status: { type: 'string', const: 'pending' },
      message: { type: 'string' },
      deduplication: {
        type: 'boolean',
        description:
          'True when the same content is already being scanned: this job completes with that scan.',
      },
      sha256: schema('Sha256'),
      file_size: byteCount,
    },
    required: ['job_id', 'status', 'message', 'deduplication', 'sha256', 'file_size'],
    additionalProperties: false,
  },
  UploadCompleted: {
    type: 'object',
    description:
      'The content was scanned before: a new job is recorded, already completed, with the earlier results.',
    properties: {
      job_id: schema('JobId'),
      status: { type: 'string', const: 'completed' },
      message: { type: 'string' },
      deduplication: { type: 'boolean', const: true },
      results: schema('LetterCounts'),
      sha256: schema('Sha256'),
      file_size: byteCount,
    },
    required: ['job_id', 'status', 'message', 'deduplication', 'results', 'sha256', 'file_size'],
    additionalProperties: false,
  },
  Job: {
    type: 'object',
    properties: {
      job_id: schema('JobId'),
      status: schema('JobStatus'),
      original_filename: {
        type: 'string',
        minLength: 1,
        maxLength: 255,
        description: 'As uploaded, without control characters.',
      },
      file_size: byteCount,
      sha256: schema('Sha256'),
      results: {
        ...nullable(schema('LetterCounts')),
        description: 'All 26 counts once completed, else null.',
      },
      error_message: {
        type: ['string', 'null'],
        description: 'Why the job failed; null otherwise.',
      },
      created_at: isoUtc,
      updated_at: isoUtc,
      completed_at: nullable(isoUtc),
      expires_at: { ...isoUtc, description: 'After this the job answers 404.' },
    },
    required: [
      'job_id',
      'status',
      'original_filename',
      'file_size',
      'sha256',
      'results',
      'error_message',
      'created_at',
      'updated_at',
      'completed_at',
      'expires_at',
    ],
    additionalProperties: false,
    // Results are there exactly when the job completed.
    if: { properties: { status: { const: 'completed' } } },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else; this object is never awaited.
    then: { properties: { results: schema('LetterCounts'), completed_at: isoUtc } },
    else: { properties: { results: { type: 'null' } } },
  },
  HashResult: {
    type: 'object',
    properties: {
      sha256: schema('Sha256'),
      file_size: byteCount,
      results: schema('LetterCounts'),
      scanned_at: isoUtc,
    },
    required: ['sha256', 'file_size', 'results', 'scanned_at'],
    additionalProperties: false,
  },
  DependencyStatus: { type: 'string', enum: ['healthy', 'unhealthy'] },
  StorageTier: { type: 'string', enum: ['healthy', 'warning', 'critical', 'emergency'] },
  Health: {
    type: 'object',
    properties: {
      status: {
        type: 'string',
        enum: ['healthy', 'degraded', 'unhealthy'],
        description:
          'unhealthy (503): Postgres, Redis or the volume unreachable. degraded (200): storage at the critical or emergency tier.',
      },
      database: schema('DependencyStatus'),
      redis: schema('DependencyStatus'),
      storage: {
        type: 'object',
        properties: {
          total_bytes: byteCount,
          used_bytes: byteCount,
          free_bytes: byteCount,
          percent_used: { type: 'number', minimum: 0, maximum: 100 },
          status: {
            type: 'string',
            enum: ['healthy', 'warning', 'critical', 'emergency', 'unavailable'],
            description: 'The storage tier, or unavailable when the volume cannot be measured.',
          },
        },
        required: ['total_bytes', 'used_bytes', 'free_bytes', 'percent_used', 'status'],
        additionalProperties: false,
      },
    },
    required: ['status', 'database', 'redis', 'storage'],
    additionalProperties: false,
  },
  VolumeUsage: {
    type: 'object',
    properties: {
      total_bytes: byteCount,
      used_bytes: byteCount,
      free_bytes: byteCount,
      used_ratio: { type: 'number', minimum: 0, maximum: 1 },
      percent_used: { type: 'number', minimum: 0, maximum: 100 },
    },
    required: ['total_bytes', 'used_bytes', 'free_bytes', 'used_ratio', 'percent_used'],
    additionalProperties: false,
  },
  CleanupReport: {
    type: 'object',
    description: 'What one cleanup pass did (or, for a dry run, would do).',
    properties: {
      outcome: {
        type: 'string',
        enum: ['completed', 'interrupted', 'skipped'],
        description:
          'skipped: another janitor held the cleanup lock. interrupted: stopped early by shutdown.',
      },
      dry_run: { type: 'boolean' },
      tier: nullable(schema('StorageTier')),
      usage: nullable(schema('VolumeUsage')),
      usage_after: {
        ...nullable(schema('VolumeUsage')),
        description: 'Measured again after the pass; null for dry runs.',
      },
      retention_seconds: {
        type: ['number', 'null'],
        minimum: 0,
        description: 'File retention of the current tier.',
      },
      files_deleted: { type: 'integer', minimum: 0 },
      bytes_deleted: byteCount,
      file_delete_failures: { type: 'integer', minimum: 0 },
      temp_files_removed: { type: 'integer', minimum: 0 },
      temp_bytes_removed: byteCount,
      orphan_files_removed: { type: 'integer', minimum: 0 },
      orphan_bytes_removed: byteCount,
      dirs_pruned: { type: 'integer', minimum: 0 },
      jobs_expired: { type: 'integer', minimum: 0 },
      scans_republished: {
        type: 'integer',
        minimum: 0,
        description: 'Scans published again because the queue had lost them.',
      },
      started_at: isoUtc,
      duration_seconds: { type: 'number', minimum: 0 },
    },
    required: [
      'outcome',
      'dry_run',
      'tier',
      'usage',
      'usage_after',
      'retention_seconds',
      'files_deleted',
      'bytes_deleted',
      'file_delete_failures',
      'temp_files_removed',
      'temp_bytes_removed',
      'orphan_files_removed',
      'orphan_bytes_removed',
      'dirs_pruned',
      'jobs_expired',
      'scans_republished',
      'started_at',
      'duration_seconds',
    ],
    additionalProperties: false,
  },
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details. Never an HTML page or a stack trace.',
    properties: {
      type: {
        type: 'string',
        format: 'uri',
        pattern: '^https://scanner\\.dev/problems/[a-z0-9-]+$',
      },
      title: { type: 'string', minLength: 1 },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string', minLength: 1 },
      request_id: { type: 'string', description: 'Same as the X-Request-Id response header.' },
    },
    required: ['type', 'title', 'status', 'detail'],
    additionalProperties: false,
  },
};

const responses: Record<string, Response | Reference> = {
  InvalidJobId: problem('The job id is not a UUID.', ['invalid-job-id']),
  JobNotFound: problem('No such job, or it has expired.', ['job-not-found']),
  DatabaseUnavailable: problem(
    'Postgres is unreachable (or the upstream service is down); retry after `Retry-After` seconds.',
    ['database-unavailable', 'service-unavailable'],
    {
      'Retry-After': header('RetryAfter'),
    },
  ),
  InternalError: problem('An unexpected failure; the detail reveals nothing.', ['internal']),
};

const uploadErrors: Record<string, Response | Reference> = {
  '400': problem(
    'Not a usable upload: no Content-Type, malformed multipart, no `file` part, a `file` part without filename, a malformed `Repr-Digest`, a body that does not match `Repr-Digest` (nothing is kept), or a client that closed the connection.',
    [
      'not-multipart',
      'malformed-multipart',
      'missing-file',
      'missing-filename',
      'invalid-repr-digest',
      'digest-mismatch',
      'client-aborted',
    ],
  ),
  '408': problem('No data arrived for `UPLOAD_TIMEOUT_SECONDS`; the partial file is removed.', [
    'upload-timeout',
  ]),
  '413': problem(
    'The file exceeds `MAX_FILE_SIZE_MB` (enforced while streaming; the partial file is removed).',
    ['file-too-large'],
  ),
  '415': problem('The body is not multipart/form-data.', ['unsupported-media-type']),
  '500': response('InternalError'),
  '503': response('DatabaseUnavailable'),
  '507': problem(
    'Storage is at the emergency tier: uploads are refused until space is freed.',
    ['storage-full'],
    {
      'Retry-After': header('RetryAfter'),
    },
  ),
};

export const openApiDocument: OpenApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'scanner',
    version: '1.0.0',
    summary:
      'Counts the letters A–Z in uploaded files, asynchronously, never storing or scanning the same content twice.',
    description: [
      'Upload a file, get a job id at once, read the 26 letter counts once the scan completes.',
      'Identical content is stored once and scanned once: uploading it again answers from the earlier scan.',
      '',
      'Every error is `application/problem+json` (RFC 9457). Every response carries `X-Request-Id`.',
      'The edge answers `502`/`503` problems of its own when a service behind it is unreachable.',
    ].join('\n'),
    license: { name: 'MIT', identifier: 'MIT' },
  },
  servers: [
    {
      url: '/',
      description: 'The edge: one base URL for every endpoint (http://localhost:8000 locally).',
    },
  ],
  tags: [
    { name: 'files', description: 'Uploads and their jobs.' },
    { name: 'hashes', description: 'Results by content hash, without uploading.' },
    { name: 'system', description: 'Health and this documentation.' },
    { name: 'admin', description: 'Operator endpoints (bearer token).' },
  ],
  paths: {
    '/api/v1/files': {
      post: {
        tags: ['files'],
        operationId: 'uploadFile',
        summary: 'Upload a file to be scanned',
        description: [
          'Streams the `file` part to the volume while hashing it.',
          '- New content: `202` with `Location` of the job.',
          '- Content already scanned: `200` with the results (a new, completed job is recorded for this upload).',
          '- Content uploaded before and still being scanned: `202` with `deduplication: true`; the job completes with that scan.',
          '',
          'With `Repr-Digest` of content already scanned, the `200` comes before the body is read.',
        ].join('\n'),
        parameters: [parameter('ReprDigest'), parameter('XRequestIdIn')],
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                properties: {
                  file: {
                    type: 'string',
                    contentMediaType: 'application/octet-stream',
                    description:
                      'The file; any content. Its filename (required) is kept as data only.',
                  },
                },
                required: ['file'],
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'Content already scanned: the results, from the earlier scan.',
            headers: requestIdHeader,
            content: json(schema('UploadCompleted')),
          },
          '202': {
            description: 'Accepted: a pending job. Poll `Location`.',
            headers: {
              ...requestIdHeader,
              Location: {
                required: true,
                description: 'The job: `/api/v1/files/{job_id}`.',
                schema: { type: 'string', pattern: '^/api/v1/files/[0-9a-f-]{36}$' },
              },
            },
            content: json(schema('UploadAccepted')),
          },
          ...uploadErrors,
        },
      },
    },
    '/api/v1/files/{job_id}': {
      get: {
        tags: ['files'],
        operationId: 'getJob',
        summary: 'Status and results of a job',
        parameters: [parameter('JobIdPath'), parameter('XRequestIdIn')],
        responses: {
          '200': {
            description: 'The job.',
            headers: requestIdHeader,
            content: json(schema('Job')),
          },
          '400': response('InvalidJobId'),
          '404': response('JobNotFound'),
          '500': response('InternalError'),
          '503': response('DatabaseUnavailable'),
        },
      },
    },
    '/api/v1/hashes/{sha256}': {
      get: {
        tags: ['hashes'],
        operationId: 'getResultsByHash',
        summary: 'Results for content already scanned, by its SHA-256',
        parameters: [parameter('Sha256Path'), parameter('XRequestIdIn')],
        responses: {
          '200': {
            description: 'The content was scanned.',
            headers: requestIdHeader,
            content: json(schema('HashResult')),
          },
          '400': problem('Not 64 hexadecimal characters.', ['invalid-sha256']),
          '404': problem('No scanned content with this SHA-256.', ['hash-not-found']),
          '500': response('InternalError'),
          '503': response('DatabaseUnavailable'),
        },
      },
    },
    '/health': {
      get: {
        tags: ['system'],
        operationId: 'getHealth',
        summary: 'System health: Postgres, Redis, storage',
        responses: {
          '200': {
            description: 'Healthy or degraded.',
            headers: requestIdHeader,
            content: json(schema('Health')),
          },
          '503': {
            description: 'A dependency is down.',
            headers: requestIdHeader,
            content: json(schema('Health')),
          },
        },
      },
    },
    '/admin/cleanup': {
      post: {
        tags: ['admin'],
        operationId: 'runCleanup',
        summary: 'Run a cleanup pass now',
        description:
          'Storage-tier retention, temp and orphan sweep, job expiry. Off (404) when the janitor has no `ADMIN_TOKEN`.',
        security: [{ adminToken: [] }],
        parameters: [
          {
            name: 'dry_run',
            in: 'query',
            required: false,
            description: 'Report what would be done, change nothing.',
            schema: {
              type: 'string',
              enum: ['true', 'false', '1', '0', 'yes', 'no'],
              default: 'false',
            },
          },
          parameter('XRequestIdIn'),
        ],
        responses: {
          '200': {
            description: 'The pass report.',
            headers: requestIdHeader,
            content: json(schema('CleanupReport')),
          },
          '400': problem('`dry_run` is not a boolean word.', ['invalid-dry-run']),
          '401': problem('No bearer token, or not the right one.', ['unauthorized'], {
            'WWW-Authenticate': header('WWWAuthenticate'),
          }),
          '404': problem('The admin endpoint is switched off (no `ADMIN_TOKEN`).', ['not-found']),
          '500': response('InternalError'),
          '503': problem(
            'Postgres is unreachable, or the janitor is shutting down.',
            ['database-unavailable', 'shutting-down', 'service-unavailable'],
            {
              'Retry-After': header('RetryAfter'),
            },
          ),
        },
      },
    },
    '/openapi.json': {
      get: {
        tags: ['system'],
        operationId: 'getOpenApiDocument',
        summary: 'This document',
        responses: {
          '200': {
            description: 'The OpenAPI 3.1 document.',
            headers: requestIdHeader,
            content: json({
              type: 'object',
              properties: {
                openapi: { type: 'string', pattern: '^3\\.1\\.' },
                info: { type: 'object' },
                paths: { type: 'object' },
              },
              required: ['openapi', 'info', 'paths'],
            }),
          },
        },
      },
    },
    '/docs': {
      get: {
        tags: ['system'],
        operationId: 'getApiDocs',
        summary: 'This document, readable (works offline)',
        responses: {
          '200': {
            description: 'An HTML page.',
            headers: requestIdHeader,
            content: { 'text/html': { schema: { type: 'string' } } },
          },
        },
      },
    },
  },
  components: {
    schemas,
    responses,
    parameters: {
      JobIdPath: {
        name: 'job_id',
        in: 'path',
        required: true,
        description: 'A UUID (400 otherwise).',
        schema: { type: 'string', format: 'uuid' },
      },
      Sha256Path: {
        name: 'sha256',
        in: 'path',
        required: true,
        description: '64 hexadecimal characters, either case (400 otherwise).',
        schema: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
      },
      ReprDigest: {
        name: 'Repr-Digest',
        in: 'header',
        required: false,
        description:
          'RFC 9530 digest of the file content, e.g. `sha-256=:<base64 of the 32-byte SHA-256>:` (other algorithms are ignored). If that content was already scanned, the `200` comes before the body is read; if the body does not match, `400` and nothing is kept.',
        schema: { type: 'string', pattern: 'sha-256=:[A-Za-z0-9+/]{43}=:' },
      },
      XRequestIdIn: {
        name: 'X-Request-Id',
        in: 'header',
        required: false,
        description:
          'Echoed in the response and carried into the logs of all the work for this request (one is generated otherwise).',
        schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
      },
    },
    headers: {
      XRequestId: {
        description: 'The request id (the one sent, or a generated one).',
        schema: { type: 'string' },
      },
      RetryAfter: {
        required: true,
        description: 'Seconds to wait before retrying.',
        schema: { type: 'string', pattern: '^[0-9]+$' },
      },
      WWWAuthenticate: {
        required: true,
        description: 'RFC 6750 bearer challenge.',
        schema: { type: 'string', pattern: '^Bearer ' },
      },
    },
    securitySchemes: {
      adminToken: { type: 'http', scheme: 'bearer', description: "The janitor's `ADMIN_TOKEN`." },
    },
  },
};
