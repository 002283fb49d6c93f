import { describe, expect, it } from 'vitest';
import { LETTERS, openApiDocument } from './openapi-document.js';
import { createContractValidator } from './testing.js';

const counts = Object.fromEntries(LETTERS.map((l) => [l, 0]));
const jobId = '3f2b8c1e-9d4a-4b7e-8f00-1a2b3c4d5e6f';
const sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const json = (extra: Record<string, string> = {}) =>
  new Headers({ 'content-type': 'application/json; charset=utf-8', ...extra });
const problemHeaders = (extra: Record<string, string> = {}) =>
  new Headers({ 'content-type': 'application/problem+json', ...extra });
const problem = (status: number, code: string) => ({
  type: `https://scanner.dev/problems/${code}`,
  title: 'Bad Request',
  status,
  detail: 'something',
  request_id: 'r-1',
});

const validator = createContractValidator();
const job = {
  job_id: jobId,
  status: 'completed',
  original_filename: 'a.txt',
  file_size: 3,
  sha256,
  results: counts,
  error_message: null,
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:00.000Z',
  completed_at: '2025-01-01T00:00:01.000Z',
  expires_at: '2025-01-08T00:00:00.000Z',
};

function check(method: string, path: string, status: number, headers: Headers, body: unknown) {
  const op = validator.match(method, path);
  if (!op) throw new Error(`no operation for ${method} ${path}`);
  return validator.check(op, { status, headers, body });
}

describe('createContractValidator', () => {
  it('compiles every schema of the document under Ajv strict mode', () => {
    expect(validator.compileAll()).toBeGreaterThan(30);
  });

  it('matches request paths to documented operations, literal paths first', () => {
    expect(validator.match('GET', `/api/v1/files/${jobId}`)?.path).toBe('/api/v1/files/{job_id}');
    expect(validator.match('POST', '/api/v1/files')?.path).toBe('/api/v1/files');
    expect(validator.match('GET', '/api/v1/files')).toBeUndefined();
    expect(validator.match('DELETE', `/api/v1/files/${jobId}`)).toBeUndefined();
  });

  it('accepts responses that match the document', () => {
    expect(check('GET', `/api/v1/files/${jobId}`, 200, json(), job)).toEqual([]);
    expect(
      check('GET', `/api/v1/files/${jobId}`, 200, json(), {
        ...job,
        status: 'pending',
        results: null,
        completed_at: null,
      }),
    ).toEqual([]);
    expect(
      check('GET', '/api/v1/files/nope', 400, problemHeaders(), problem(400, 'invalid-job-id')),
    ).toEqual([]);
    expect(
      check('POST', '/api/v1/files', 202, json({ location: `/api/v1/files/${jobId}` }), {
        job_id: jobId,
        status: 'pending',
        message: 'ok',
        deduplication: false,
        sha256,
        file_size: 3,
      }),
    ).toEqual([]);
  });

  it('rejects what the document does not allow', () => {
    const cases: Array<[string, string[]]> = [
      ['undocumented status', check('GET', `/api/v1/files/${jobId}`, 418, json(), {})],
      ['extra property', check('GET', `/api/v1/files/${jobId}`, 200, json(), { ...job, extra: 1 })],
      [
        'missing property',
        check('GET', `/api/v1/files/${jobId}`, 200, json(), { ...job, expires_at: undefined }),
      ],
      [
        'offset instead of Z',
        check('GET', `/api/v1/files/${jobId}`, 200, json(), {
          ...job,
          created_at: '2025-01-01T00:00:00+01:00',
        }),
      ],
      [
        'completed without results',
        check('GET', `/api/v1/files/${jobId}`, 200, json(), { ...job, results: null }),
      ],
      [
        'pending with results',
        check('GET', `/api/v1/files/${jobId}`, 200, json(), { ...job, status: 'pending' }),
      ],
      [
        '25 letters',
        check('GET', `/api/v1/files/${jobId}`, 200, json(), {
          ...job,
          results: { ...counts, Z: undefined },
        }),
      ],
      [
        'wrong media type',
        check('GET', '/api/v1/files/nope', 400, json(), problem(400, 'invalid-job-id')),
      ],
      [
        'HTML error page',
        check(
          'GET',
          '/api/v1/files/nope',
          400,
          new Headers({ 'content-type': 'text/html' }),
          '<h1>400</h1>',
        ),
      ],
      [
        'missing Location',
        check('POST', '/api/v1/files', 202, json(), {
          job_id: jobId,
          status: 'pending',
          message: 'm',
          deduplication: false,
          sha256,
          file_size: 1,
        }),
      ],
      [
        'missing Retry-After',
        check('POST', '/api/v1/files', 507, problemHeaders(), problem(507, 'storage-full')),
      ],
      [
        'missing WWW-Authenticate',
        check('POST', '/admin/cleanup', 401, problemHeaders(), problem(401, 'unauthorized')),
      ],
      [
        'uppercase sha256',
        check('GET', `/api/v1/hashes/${sha256}`, 200, json(), {
          sha256: sha256.toUpperCase(),
          file_size: 0,
          results: counts,
          scanned_at: job.created_at,
        }),
      ],
    ];
    for (const [name, errors] of cases) expect(errors, name).not.toEqual([]);
  });

  it('knows every operation of the document', () => {
    const ops = Object.entries(openApiDocument.paths).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(ops.sort()).toEqual([
      'get /api/v1/files/{job_id}',
      'get /api/v1/hashes/{sha256}',
      'get /docs',
      'get /health',
      'get /openapi.json',
      'post /admin/cleanup',
      'post /api/v1/files',
    ]);
  });
});
