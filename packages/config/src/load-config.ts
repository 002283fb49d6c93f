import type { TierPolicy } from '@scanner/core';
import { z } from 'zod';

export const SERVICE_PORTS = {
  'upload-gateway': 8001,
  'status-query': 8002,
  'scanner-worker': 8003,
  janitor: 8004,
} as const;

export type ServiceName = keyof typeof SERVICE_PORTS;

// `z.coerce.boolean()` turns the string "false" into true; spell the accepted words out instead.
const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max);
const percent = z.coerce.number().gt(0).lte(100);
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

/** Every environment variable the services read, with its default. `.env.example` mirrors this. */
const envSchema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test']).default('production'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(0, 65535).optional(),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default(
    'postgresql://postgres@127.0.0.1:5432/scanner',
  ),
  DATABASE_POOL_MAX: int(1, 1000).default(10),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379/0'),
  REDIS_KEY_PREFIX: z.string().default(''),
  FILE_STORAGE_PATH: z.string().min(1).default('/data/files'),
  MAX_FILE_SIZE_MB: z.coerce.number().gt(0).default(100),
  UPLOAD_TIMEOUT_SECONDS: z.coerce.number().gt(0).default(300),
  TEMP_FILE_MAX_AGE_SECONDS: int(1).default(3600),
  FILE_RETENTION_DAYS: z.coerce.number().gt(0).default(7),
  STORAGE_WARNING_PERCENT: percent.default(85),
  STORAGE_CRITICAL_PERCENT: percent.default(90),
  STORAGE_EMERGENCY_PERCENT: percent.default(95),
  WARNING_RETENTION_HOURS: z.coerce.number().gt(0).default(72),
  CRITICAL_RETENTION_HOURS: z.coerce.number().gt(0).default(24),
  EMERGENCY_RETENTION_HOURS: z.coerce.number().gt(0).default(12),
  JOB_CACHE_TTL: int(1).default(3600),
  FILE_CACHE_TTL: int(1).default(86400),
  JOB_RETENTION_DAYS: z.coerce.number().gt(0).default(7),
  MAX_RETRIES: int(1, 1000).default(3),
  WORKER_CONCURRENCY: int(1, 1024).default(128),
  WORKER_LARGE_FILE_SCANS: int(1, 256).default(8),
  WORKER_BATCH_WAIT_MS: int(0, 10_000).default(25),
  CLAIM_IDLE_MS: int(100).default(30_000),
  REPUBLISH_AFTER_MS: int(100).default(60_000),
  VERIFY_SCANS: flag.default(true),
  CLEANUP_INTERVAL_SECONDS: z.coerce.number().gt(0).default(300),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  SHUTDOWN_TIMEOUT_MS: int(0).default(25_000),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  service: ServiceName;
  nodeEnv: Env['NODE_ENV'];
  log: { level: Env['LOG_LEVEL'] };
  http: { host: string; port: number };
  database: { url: string; poolMax: number };
  redis: { url: string; keyPrefix: string };
  storage: {
    rootPath: string;
    maxUploadBytes: number;
    uploadTimeoutMs: number;
    tempMaxAgeMs: number;
    tierPolicy: TierPolicy;
  };
  cache: { jobTtlSeconds: number; fileResultsTtlSeconds: number };
  jobs: { retentionMs: number };
  worker: {
    /** Stream entries handled at once. */
    concurrency: number;
    /** Of those, scans of files over 64 KiB (streamed, two 1 MiB buffers each) at once. */
    largeFileScans: number;
    /** After a read that found only a few entries, how long to let more gather before the next. */
    batchWaitMs: number;
    maxRetries: number;
    claimIdleMs: number;
    republishAfterMs: number;
    verifyScans: boolean;
  };
  janitor: { intervalMs: number; adminToken: string | null };
  shutdown: { timeoutMs: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Parses the environment once, listing every problem at the same time. Never runs at import. */
export function loadConfig(service: ServiceName, env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset" (compose files often pass VAR= through).
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (
    !(
      e.STORAGE_WARNING_PERCENT < e.STORAGE_CRITICAL_PERCENT &&
      e.STORAGE_CRITICAL_PERCENT < e.STORAGE_EMERGENCY_PERCENT
    )
  ) {
    problems.push(
      'STORAGE_WARNING_PERCENT < STORAGE_CRITICAL_PERCENT < STORAGE_EMERGENCY_PERCENT must hold',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    service,
    nodeEnv: e.NODE_ENV,
    log: { level: e.LOG_LEVEL },
    http: { host: e.HOST, port: e.PORT ?? SERVICE_PORTS[service] },
    database: { url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    storage: {
      rootPath: e.FILE_STORAGE_PATH,
      maxUploadBytes: Math.floor(e.MAX_FILE_SIZE_MB * 1024 * 1024),
      uploadTimeoutMs: Math.round(e.UPLOAD_TIMEOUT_SECONDS * 1000),
      tempMaxAgeMs: e.TEMP_FILE_MAX_AGE_SECONDS * 1000,
      tierPolicy: {
        warningAt: e.STORAGE_WARNING_PERCENT / 100,
        criticalAt: e.STORAGE_CRITICAL_PERCENT / 100,
        emergencyAt: e.STORAGE_EMERGENCY_PERCENT / 100,
        retentionMs: {
          healthy: e.FILE_RETENTION_DAYS * DAY_MS,
          warning: e.WARNING_RETENTION_HOURS * HOUR_MS,
          critical: e.CRITICAL_RETENTION_HOURS * HOUR_MS,
          emergency: e.EMERGENCY_RETENTION_HOURS * HOUR_MS,
        },
      },
    },
    cache: { jobTtlSeconds: e.JOB_CACHE_TTL, fileResultsTtlSeconds: e.FILE_CACHE_TTL },
    jobs: { retentionMs: e.JOB_RETENTION_DAYS * DAY_MS },
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      largeFileScans: e.WORKER_LARGE_FILE_SCANS,
      batchWaitMs: e.WORKER_BATCH_WAIT_MS,
      maxRetries: e.MAX_RETRIES,
      claimIdleMs: e.CLAIM_IDLE_MS,
      republishAfterMs: e.REPUBLISH_AFTER_MS,
      verifyScans: e.VERIFY_SCANS,
    },
    janitor: {
      intervalMs: Math.round(e.CLEANUP_INTERVAL_SECONDS * 1000),
      adminToken: e.ADMIN_TOKEN ?? null,
    },
    shutdown: { timeoutMs: e.SHUTDOWN_TIMEOUT_MS },
  };
}

/** The documented defaults, for `.env.example` and its test. */
export function envDefaults(): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, schema] of Object.entries(envSchema.shape)) {
    const r = (schema as z.ZodType).safeParse(undefined);
    out[key] = r.success && r.data !== undefined ? String(r.data) : undefined;
  }
  return out;
}
