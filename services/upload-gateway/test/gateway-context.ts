import { readdir } from 'node:fs/promises';
import { tempDir } from '@scanner/core';
import {
  createServiceTestContext,
  type ServiceTestContext,
  serveForTest,
} from '@scanner/runtime/testing';
import { createApp, type UploadGatewayDeps } from '../src/app.js';

export interface GatewayUnderTest {
  ctx: ServiceTestContext;
  url: string;
  close(): Promise<void>;
}

/** A real gateway on a real port, over an isolated database, Redis prefix and storage folder. */
export async function startGateway(
  env: Record<string, string> = {},
  opts: { storageRoot?: string; deps?: Partial<UploadGatewayDeps> } = {},
): Promise<GatewayUnderTest> {
  const ctx = await createServiceTestContext('upload-gateway', env, opts);
  const app = createApp({
    ...ctx,
    storageRoot: ctx.config.storage.rootPath,
    tierPolicy: ctx.config.storage.tierPolicy,
    maxUploadBytes: ctx.config.storage.maxUploadBytes,
    uploadTimeoutMs: ctx.config.storage.uploadTimeoutMs,
    jobRetentionMs: ctx.config.jobs.retentionMs,
    fileCacheTtlSeconds: ctx.config.cache.fileResultsTtlSeconds,
    ...opts.deps,
  });
  const server = await serveForTest(app);
  return {
    ctx,
    url: server.url,
    async close() {
      await server.close();
      await ctx.cleanup();
    },
  };
}

export async function tempFiles(storageRoot: string): Promise<string[]> {
  return readdir(tempDir(storageRoot));
}

export async function countRows(ctx: ServiceTestContext) {
  const [files, jobs] = await Promise.all([
    ctx.db
      .selectFrom('files')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
    ctx.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
  ]);
  return { files: Number(files.n), jobs: Number(jobs.n) };
}
