// `node dist/tools/experiments.js <experiment> [variants-json]`: the measurements behind the
// recommendations in README.md, re-runnable after a change. Each prints one JSON line per variant.
//   gateway '{"name":{ENV:…},…}'   1 KiB unique uploads straight to the gateway (no edge), one
//                                  system per variant; `"PRECREATE":"1"` makes the 65,536 fan-out
//                                  directories of the volume before the run.
//   worker  '{"name":{ENV:…},…}'   a backlog of 1 KiB uploads drained by scanner-workers started
//                                  with that environment (`"WORKERS":"2"` starts two).
//   steady  '{"name":{ENV:…},…}'   1 KiB uploads to completion with scanner-workers of that
//                                  environment running (a steady flow, not a backlog): jobs per
//                                  second and CPU per job of the workers, Postgres, the machine;
//                                  `"PG_OPTIONS":"-c synchronous_commit=off"` sets Postgres
//                                  settings for the workers' connections.
//   statement                      Postgres CPU of the gateway's insert for new content: as sent
//                                  now (unnamed), as a named prepared statement, and a plain INSERT.
//   cache-away                     duplicates of one scanned 1 KiB content through the edge with
//                                  the services' Redis unreachable, so every one misses the results
//                                  cache and Postgres alone decides.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { cleanUpNow, contextFromEnv, round, withTempDir } from '../harness.js';
import { expectedCounts, newSalt } from '../load/content.js';
import { describeFailures, type LoadSpec, runLoad } from '../load/loadgen.js';
import { UPLOAD_BYTES, uniqueUploads } from '../scenarios/upload-1kb.js';
import { postgresCpuSeconds, waitUntilNoneUnfinished } from '../system/checks.js';
import { cpuPerRequest } from '../system/kit.js';
import {
  BenchEnvironment,
  machineCpuSeconds,
  processCpuSeconds,
  type ServiceProcess,
  Stack,
  startService,
} from '../system/stack.js';

type Variants = Record<string, Record<string, string>>;
const runs = Number(process.env.BENCH_LOAD_RUNS ?? 3);
const print = (name: string, figures: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ variant: name, ...figures })}\n`);

async function precreateFanOut(root: string): Promise<void> {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  for (let a = 0; a < 256; a++)
    await Promise.all(
      Array.from({ length: 256 }, (_, b) => mkdir(join(root, hex(a), hex(b)), { recursive: true })),
    );
}

async function gateway(variants: Variants): Promise<void> {
  await withTempDir(contextFromEnv(), async (dir) => {
    const systems: Array<{ name: string; env: BenchEnvironment; stack: Stack }> = [];
    try {
      for (const [name, { PRECREATE, ...serviceEnv }] of Object.entries(variants)) {
        const env = await BenchEnvironment.create(join(dir, name.replace(/\W+/g, '_')));
        if (PRECREATE) await precreateFanOut(env.storageRoot);
        systems.push({ name, env, stack: await Stack.start(env, serviceEnv) });
      }
      const best: Record<string, Record<string, unknown>> = {};
      for (let run = 0; run < runs; run++) {
        for (const { name, env, stack } of systems) {
          const { report, cpuMs } = await cpuPerRequest(
            {
              gateway: stack.gateway.pid,
              postgres: () => postgresCpuSeconds(env.databaseName),
              machine: machineCpuSeconds,
            },
            () => runLoad(uniqueUploads(`${stack.gateway.url}/api/v1/files`, 'content')),
          );
          if (!best[name] || report.perSecond > (best[name].uploads_per_s as number))
            best[name] = {
              uploads_per_s: round(report.perSecond, 1),
              p50_ms: round(report.p50Ms, 1),
              p99_ms: round(report.p99Ms, 1),
              cpu_ms_per_upload_gateway: cpuMs.gateway,
              cpu_ms_per_upload_postgres: cpuMs.postgres,
              cpu_ms_per_upload_machine: cpuMs.machine,
              failed: report.failed,
            };
        }
      }
      for (const [name, figures] of Object.entries(best)) print(name, figures);
    } finally {
      for (const { env, stack } of systems) {
        await stack.stop();
        await env.destroy();
      }
    }
  });
}

/** One system (database, prefix, volume, gateway, status-query, edge) for an experiment's runs. */
async function withStack(
  fn: (env: BenchEnvironment, stack: Stack) => Promise<void>,
): Promise<void> {
  await withTempDir(contextFromEnv(), async (dir) => {
    const env = await BenchEnvironment.create(dir);
    const stack = await Stack.start(env, {});
    try {
      await fn(env, stack);
    } finally {
      await stack.stop();
      await env.destroy();
    }
  });
}

/**
 * `count` scanner-workers with `workerEnv`. `meter()` starts counting; the function it returns
 * gives, for `items` handled since, the figures per second and the CPU ms per item of the
 * workers, Postgres and the whole machine, named after the item (`scans_per_s`, …).
 */
async function startWorkers(
  env: BenchEnvironment,
  count: string,
  workerEnv: Record<string, string>,
) {
  const workers: ServiceProcess[] = await Promise.all(
    Array.from({ length: Number(count) }, () => startService(env, 'scanner-worker', workerEnv)),
  );
  const read = () => ({
    workers: workers.reduce((sum, w) => sum + processCpuSeconds(w.pid), 0),
    postgres: postgresCpuSeconds(env.databaseName),
    machine: machineCpuSeconds(),
    seconds: performance.now() / 1000,
  });
  const meter = () => {
    const start = read();
    return (items: number, item: 'scan' | 'job') => {
      const end = read();
      const msPerItem = (key: 'workers' | 'postgres' | 'machine') =>
        round(((end[key] - start[key]) * 1000) / items, 3);
      return {
        [`${item}s_per_s`]: round(items / (end.seconds - start.seconds), 1),
        [`cpu_ms_per_${item}_workers`]: msPerItem('workers'),
        [`cpu_ms_per_${item}_postgres`]: msPerItem('postgres'),
        [`cpu_ms_per_${item}_machine`]: msPerItem('machine'),
      };
    };
  };
  return { meter, stop: () => Promise.all(workers.map((w) => w.stop())) };
}

async function worker(variants: Variants): Promise<void> {
  const backlog = Number(process.env.BENCH_COMPLETION_UPLOADS ?? 3000);
  await withStack(async (env, stack) => {
    for (let run = 0; run < runs; run++) {
      for (const [name, { WORKERS = '1', ...workerEnv }] of Object.entries(variants)) {
        const url = `${stack.gateway.url}/api/v1/files`;
        const up = await runLoad({ ...uniqueUploads(url, 'content'), count: backlog, warmup: 0 });
        const { meter, stop } = await startWorkers(env, WORKERS, workerEnv);
        const used = meter();
        const drained = await waitUntilNoneUnfinished(env, 180_000, 20);
        print(name, { run, uploads: up.ok, drained, ...used(up.ok, 'scan') });
        await stop();
      }
    }
  });
}

async function steady(variants: Variants): Promise<void> {
  const count = Number(process.env.BENCH_COMPLETION_UPLOADS ?? 3000);
  await withStack(async (env, stack) => {
    for (let run = 0; run < runs; run++) {
      for (const [name, { WORKERS = '1', PG_OPTIONS, ...workerEnv }] of Object.entries(variants)) {
        // PG_OPTIONS: server settings for the workers' connections (e.g. `-c synchronous_commit=off`).
        if (PG_OPTIONS) {
          const url = new URL(env.databaseUrl);
          url.searchParams.set('options', PG_OPTIONS);
          workerEnv.DATABASE_URL = url.toString();
        }
        const { meter, stop } = await startWorkers(env, WORKERS, workerEnv);
        const used = meter();
        const url = `${stack.gateway.url}/api/v1/files`;
        const up = await runLoad({ ...uniqueUploads(url, 'content'), count, warmup: 0 });
        const drained = await waitUntilNoneUnfinished(env, 180_000, 20);
        print(name, { run, uploads: up.ok, drained, ...used(up.ok, 'job') });
        await stop();
      }
    }
  });
}

// The statement recordNewContent sends (as kysely compiles it), one per upload of new content.
const RECORD_NEW_CONTENT =
  'with "f" as (insert into "files" ("sha256", "size_bytes", "published_at") values ($1, $2, now()) ' +
  'on conflict ("sha256") do nothing returning "sha256") insert into "jobs" ("job_id", "sha256", ' +
  '"original_filename", "file_size", "request_id", "expires_at") select $3::uuid as "job_id", ' +
  '"f"."sha256", $4::varchar as "original_filename", $5::bigint as "file_size", $6::text as ' +
  '"request_id", $7::timestamptz as "expires_at" from "f" returning *';

async function statement(): Promise<void> {
  await withTempDir(contextFromEnv(), async (dir) => {
    const env = await BenchEnvironment.create(dir);
    const pool = new pg.Pool({ connectionString: env.databaseUrl, max: 10 });
    try {
      await env.db.query(
        'CREATE TABLE plain_uploads (job_id uuid PRIMARY KEY, sha256 char(64) NOT NULL, size_bytes bigint NOT NULL)',
      );
      let n = 0;
      const values = () => [
        createHash('sha256').update(`${n++}:${Math.random()}`).digest('hex'),
        1024,
        randomUUID(),
        'bench.bin',
        1024,
        randomUUID(),
        new Date(Date.now() + 7 * 86_400_000),
      ];
      const variants: Record<string, () => Promise<unknown>> = {
        'unnamed (as now)': () => pool.query(RECORD_NEW_CONTENT, values()),
        'named prepared': () =>
          pool.query({ name: 'record-new-content', text: RECORD_NEW_CONTENT, values: values() }),
        'plain insert': () => {
          const [sha256, , jobId] = values();
          return pool.query('INSERT INTO plain_uploads VALUES ($1, $2, 1024)', [jobId, sha256]);
        },
      };
      const count = 4000;
      for (let run = 0; run < runs; run++) {
        for (const [name, send] of Object.entries(variants)) {
          const [cpu0, t0] = [postgresCpuSeconds(env.databaseName), performance.now()];
          let next = 0;
          await Promise.all(
            Array.from({ length: 64 }, async () => {
              while (next++ < count) await send();
            }),
          );
          const seconds = (performance.now() - t0) / 1000;
          print(name, {
            run,
            statements_per_s: round(count / seconds, 1),
            cpu_ms_per_statement_postgres: round(
              ((postgresCpuSeconds(env.databaseName) - cpu0) * 1000) / count,
              3,
            ),
          });
        }
      }
    } finally {
      await pool.end();
      await env.destroy();
    }
  });
}

async function cacheAway(): Promise<void> {
  const count = Number(process.env.BENCH_UPLOADS ?? 3000);
  await withTempDir(contextFromEnv(), async (dir) => {
    const env = await BenchEnvironment.create(dir);
    const salt = newSalt();
    const duplicates = (url: string, n: number, warmup: number): LoadSpec => ({
      ...uniqueUploads(url, 'content'),
      count: n,
      warmup,
      maxMs: 30_000,
      content: { bytes: UPLOAD_BYTES, salt, mode: 'same', body: 'memory' },
      expect:
        n === 1
          ? { status: [202], sha256: 'content' }
          : {
              status: [200],
              sha256: 'content',
              deduplication: true,
              results: expectedCounts(UPLOAD_BYTES),
            },
    });
    try {
      // The content is uploaded and scanned with Redis up, then the services restart without it.
      let stack = await Stack.start(env, {});
      try {
        await runLoad(duplicates(`${stack.url}/api/v1/files`, 1, 0));
        await stack.setWorkers(1);
        await waitUntilNoneUnfinished(env, 60_000);
      } finally {
        await stack.stop();
      }
      stack = await Stack.start(env, { REDIS_URL: 'redis://127.0.0.1:1' });
      try {
        for (let run = 0; run < runs; run++) {
          const machine0 = machineCpuSeconds();
          const report = await runLoad(duplicates(`${stack.url}/api/v1/files`, count, 64));
          print('cache-away', {
            run,
            uploads_per_s: round(report.perSecond, 1),
            p50_ms: round(report.p50Ms, 1),
            cpu_ms_per_upload_machine: round(
              ((machineCpuSeconds() - machine0) * 1000) / Math.max(1, report.requests),
              3,
            ),
            failed: report.failed,
            ...(report.failed > 0 ? { errors: describeFailures(report) } : {}),
          });
        }
      } finally {
        await stack.stop();
      }
    } finally {
      await env.destroy();
    }
  });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void cleanUpNow().finally(() => process.exit(130)));

const [experiment, json = '{}'] = process.argv.slice(2);
const variants = JSON.parse(json) as Variants;
if (experiment === 'gateway') await gateway(variants);
else if (experiment === 'worker') await worker(variants);
else if (experiment === 'steady') await steady(variants);
else if (experiment === 'statement') await statement();
else if (experiment === 'cache-away') await cacheAway();
else {
  console.error(
    'usage: experiments.js gateway|worker|steady <variants-json> | statement | cache-away',
  );
  process.exitCode = 2;
}
await cleanUpNow();
