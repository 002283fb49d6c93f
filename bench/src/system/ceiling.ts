import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { childModuleArgs, onInterrupt } from '../harness.js';
import type { BenchEnvironment } from './stack.js';

const serverArgs = childModuleArgs(import.meta.url, 'ceiling-server');

export interface CeilingServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
  /** Rows inserted and stream entries added so far (`minimal` only). */
  recorded(): Promise<{ rows: number; entries: number }>;
}

/** Starts a bare ceiling server (see ceiling-server.ts) on the environment's volume and stores. */
export async function startCeiling(
  env: BenchEnvironment,
  mode: 'stream' | 'minimal' | 'answer',
  answer: Record<string, unknown> = {},
): Promise<CeilingServer> {
  if (mode === 'minimal') {
    await env.db.query(
      `CREATE TABLE IF NOT EXISTS bench_ceiling_uploads (
         job_id uuid PRIMARY KEY,
         sha256 char(64) NOT NULL,
         size_bytes bigint NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now())`,
    );
  }
  const proc = spawn(process.execPath, [...serverArgs, mode], {
    env: {
      PATH: process.env.PATH,
      CEILING_STORAGE: `${env.storageRoot}-ceiling`,
      CEILING_DATABASE_URL: env.databaseUrl,
      CEILING_REDIS_URL: env.redisUrl,
      CEILING_REDIS_PREFIX: env.prefix,
      CEILING_ANSWER: JSON.stringify(answer),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const unregister = onInterrupt(() => proc.kill('SIGKILL'));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    unregister();
  };
  const lines = createInterface({ input: proc.stdout });
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited.then(() => ''),
  ]);
  lines.close();
  const port = first ? (JSON.parse(first) as { port: number }).port : 0;
  if (!port) {
    await stop();
    throw new Error(`ceiling server (${mode}) did not start`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid as number,
    stop,
    async recorded() {
      const { rows } = await env.db.query<{ n: string }>(
        'SELECT count(*) AS n FROM bench_ceiling_uploads',
      );
      const redis = await env.redis();
      const entries = await redis.xLen(`${env.prefix}ceiling_jobs`);
      return { rows: Number(rows[0]?.n ?? 0), entries };
    },
  };
}
