import { join } from 'node:path';
import { startLocalEdge } from '@scanner/edge/nginx';
import { createServiceTestContext, type ServiceTestContext } from '@scanner/runtime/testing';
import { freePort, type ServiceProcess, startProcess, waitForHttp } from '@scanner/testing';

// src/ and dist/ sit at the same depth: packages/test-stack/{src,dist}.
const ROOT = join(import.meta.dirname, '..', '..', '..');

export type StackService = 'gateway' | 'status' | 'worker' | 'janitor';
export type StackProcess = StackService | 'edge';

const DIRS: Record<StackProcess, string> = {
  gateway: 'services/upload-gateway',
  status: 'services/status-query',
  worker: 'services/scanner-worker',
  janitor: 'services/janitor',
  edge: 'infra/edge',
};

export interface StackOptions {
  /** Environment for every service (on top of the isolated test context). */
  env?: Record<string, string>;
  /** Services started with the stack (the edge always is). Others can be started later. */
  services?: StackService[];
  /** Probe that says a service is up: `/readyz` (dependencies reachable) unless told otherwise. */
  probes?: Partial<Record<StackService, '/readyz' | '/healthz'>>;
  /** Rewrites the database URL the services get (e.g. to go through a proxy the test can cut). */
  databaseUrl?: (url: string) => string;
  /**
   * The edge in front: the node edge (`infra/edge`, default) or the compose stack's nginx.conf run
   * locally, as `npm start` runs it when nginx is installed.
   */
  edge?: 'node' | 'nginx';
}

export interface Stack {
  ctx: ServiceTestContext;
  /** The edge: the one base URL clients use. */
  url: string;
  adminToken: string;
  /** Every process's own port, for scraping /metrics directly. */
  ports: Record<StackProcess, number>;
  processes: Partial<Record<StackProcess, ServiceProcess>>;
  serviceUrl(name: StackProcess): string;
  /** Starts a service that was left out at first, and waits until it is up. */
  start(name: StackService): Promise<void>;
  stop(): Promise<void>;
}

export const ADMIN_TOKEN = 'stack-admin-token-0123456789';

/**
 * Starts the built services (dist/, exactly what production runs) and the edge as processes on
 * free ports, sharing an isolated database, Redis prefix and storage folder.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const env = { ADMIN_TOKEN, ...opts.env };
  const ctx = await createServiceTestContext('upload-gateway', env);
  const ports: Record<StackProcess, number> = {
    gateway: await freePort(),
    status: await freePort(),
    worker: await freePort(),
    janitor: await freePort(),
    edge: await freePort(),
  };
  const serviceUrl = (name: StackProcess) => `http://127.0.0.1:${ports[name]}`;
  const common = ctx.env({
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info',
    ...env,
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl(ctx.databaseUrl) } : {}),
  });
  const processes: Partial<Record<StackProcess, ServiceProcess>> = {};
  const spawn = (name: StackProcess, extra: Record<string, string> = {}) => {
    const proc = startProcess(name, process.execPath, [join(ROOT, DIRS[name], 'dist', 'main.js')], {
      ...common,
      PORT: String(ports[name]),
      ...extra,
    });
    processes[name] = proc;
    return proc;
  };
  const start = async (name: StackService) => {
    const proc = spawn(name);
    await waitForHttp(`${serviceUrl(name)}${opts.probes?.[name] ?? '/readyz'}`, 30_000, proc);
  };
  let stopNginx = async () => {};
  const stop = async () => {
    await Promise.all([stopNginx(), ...Object.values(processes).map((p) => p.stop(10_000))]);
    await ctx.cleanup();
  };
  const startEdge = async () => {
    if (opts.edge === 'nginx') {
      const nginx = await startLocalEdge({
        upstreams: {
          upload_gateway: `127.0.0.1:${ports.gateway}`,
          status_query: `127.0.0.1:${ports.status}`,
          janitor: `127.0.0.1:${ports.janitor}`,
        },
        host: '127.0.0.1',
        port: ports.edge,
        timeoutMs: 30_000,
      });
      stopNginx = nginx.stop;
      return;
    }
    const edge = spawn('edge', {
      UPLOAD_GATEWAY_URL: serviceUrl('gateway'),
      STATUS_QUERY_URL: serviceUrl('status'),
      JANITOR_URL: serviceUrl('janitor'),
    });
    await waitForHttp(`${serviceUrl('edge')}/edge/healthz`, 30_000, edge);
  };

  try {
    await Promise.all([
      ...(opts.services ?? ['gateway', 'status', 'worker', 'janitor']).map(start),
      startEdge(),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ctx,
    url: serviceUrl('edge'),
    adminToken: ADMIN_TOKEN,
    ports,
    processes,
    serviceUrl,
    start,
    stop,
  };
}
