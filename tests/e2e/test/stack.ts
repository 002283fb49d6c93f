import { join } from 'node:path';
import { createServiceTestContext, type ServiceTestContext } from '@scanner/runtime/testing';
import { freePort, type ServiceProcess, startProcess, waitForHttp } from '@scanner/testing';

const ROOT = join(import.meta.dirname, '..', '..', '..');

export interface Stack {
  ctx: ServiceTestContext;
  /** The edge: the one base URL clients use. */
  url: string;
  adminToken: string;
  processes: Record<string, ServiceProcess>;
  stop(): Promise<void>;
}

/**
 * Starts the built services (dist/, exactly what production runs) and the edge as processes on
 * free ports, sharing an isolated database, Redis prefix and storage folder.
 */
export async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const ctx = await createServiceTestContext('upload-gateway', env);
  const adminToken = 'e2e-admin-token-0123456789';
  const ports = {
    gateway: await freePort(),
    status: await freePort(),
    worker: await freePort(),
    janitor: await freePort(),
    edge: await freePort(),
  };
  const common = ctx.env({
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    ADMIN_TOKEN: adminToken,
    ...env,
  });
  const spawnService = (
    name: string,
    dir: string,
    port: number,
    extra: Record<string, string> = {},
  ) =>
    startProcess(name, process.execPath, [join(ROOT, dir, 'dist', 'main.js')], {
      ...common,
      PORT: String(port),
      ...extra,
    });
  const processes: Record<string, ServiceProcess> = {
    gateway: spawnService('upload-gateway', 'services/upload-gateway', ports.gateway),
    status: spawnService('status-query', 'services/status-query', ports.status),
    worker: spawnService('scanner-worker', 'services/scanner-worker', ports.worker),
    janitor: spawnService('janitor', 'services/janitor', ports.janitor),
    edge: spawnService('edge', 'infra/edge', ports.edge, {
      UPLOAD_GATEWAY_URL: `http://127.0.0.1:${ports.gateway}`,
      STATUS_QUERY_URL: `http://127.0.0.1:${ports.status}`,
      JANITOR_URL: `http://127.0.0.1:${ports.janitor}`,
    }),
  };
  const stop = async () => {
    await Promise.all(Object.values(processes).map((p) => p.stop(10_000)));
    await ctx.cleanup();
  };
  try {
    await Promise.all([
      waitForHttp(`http://127.0.0.1:${ports.gateway}/readyz`, 20_000, processes.gateway),
      waitForHttp(`http://127.0.0.1:${ports.status}/readyz`, 20_000, processes.status),
      waitForHttp(`http://127.0.0.1:${ports.worker}/readyz`, 20_000, processes.worker),
      waitForHttp(`http://127.0.0.1:${ports.janitor}/readyz`, 20_000, processes.janitor),
      waitForHttp(`http://127.0.0.1:${ports.edge}/health`, 20_000, processes.edge),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ctx, url: `http://127.0.0.1:${ports.edge}`, adminToken, processes, stop };
}

export async function uploadFile(
  url: string,
  content: Buffer | string,
  filename: string,
  headers: Record<string, string> = {},
) {
  const form = new FormData();
  form.append('file', new Blob([content]), filename);
  const res = await fetch(`${url}/api/v1/files`, { method: 'POST', body: form, headers });
  return { res, body: (await res.json()) as Record<string, unknown> };
}
