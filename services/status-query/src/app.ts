import { mountApiDocs } from '@scanner/api-contract';
import type { TierPolicy } from '@scanner/core';
import { type Db, findScannedContent } from '@scanner/db';
import { createServiceApp, HttpError, type Registry } from '@scanner/http-kit';
import type { Logger } from '@scanner/logging';
import { type Redis, type RedisKeys, RedisStallGuard } from '@scanner/redis';
import { classifyDependencyError, databaseReachable } from '@scanner/runtime';
import type { Express, Router } from 'express';
import { healthReport } from './health-report.js';
import { readJob } from './job-reader.js';
import { hashResource } from './job-resource.js';

export interface StatusQueryDeps {
  db: Db;
  redis: Redis;
  keys: RedisKeys;
  log: Logger;
  registry: Registry;
  lifecycle: { shuttingDown: boolean };
  storageRoot: string;
  tierPolicy: TierPolicy;
  jobCacheTtlSeconds: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX64 = /^[0-9a-f]{64}$/i;

/** Builds the app from injected clients; never listens (main.ts and tests do). */
export function createApp(deps: StatusQueryDeps): Express {
  const checkReady = async () => ({ database: await databaseReachable(deps.db) });
  return createServiceApp({ ...deps, checkReady, classifyError: classifyDependencyError }, (app) =>
    mountReadRoutes(app, deps),
  );
}

function mountReadRoutes(app: Router, deps: StatusQueryDeps): void {
  const reader = { ...deps, redisCalls: new RedisStallGuard(deps.redis) };
  app.get('/api/v1/files/:jobId', async (req, res) => {
    const { jobId } = req.params;
    if (!UUID.test(jobId)) {
      throw new HttpError(400, 'invalid-job-id', 'Bad Request', 'job id must be a UUID');
    }
    const body = await readJob(reader, jobId.toLowerCase());
    if (!body)
      throw new HttpError(404, 'job-not-found', 'Not Found', 'no such job, or it has expired');
    res.type('application/json').send(body);
  });

  app.get('/api/v1/hashes/:sha256', async (req, res) => {
    const { sha256 } = req.params;
    if (!HEX64.test(sha256)) {
      throw new HttpError(
        400,
        'invalid-sha256',
        'Bad Request',
        'expected 64 hexadecimal characters',
      );
    }
    const content = await findScannedContent(deps.db, sha256.toLowerCase());
    if (!content)
      throw new HttpError(
        404,
        'hash-not-found',
        'Not Found',
        'no scanned content with this SHA-256',
      );
    res.json(hashResource(content));
  });

  app.get('/health', async (_req, res) => {
    const report = await healthReport(deps);
    res.status(report.status === 'unhealthy' ? 503 : 200).json(report);
  });

  // The edge routes /openapi.json and /docs here: the read side serves the whole API's contract.
  mountApiDocs(app);
}
