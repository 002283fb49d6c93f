// Fixtures for the janitor's tests: a real tmpfs volume, real rows, real files. Nothing is mocked.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { contentPath, DEFAULT_TIER_POLICY, tempDir, type VolumeUsage } from '@scanner/core';
import type { Db, ScanStatus } from '@scanner/db';
import { createTestDatabase, type TestDatabase } from '@scanner/db/testing';
import { Registry } from '@scanner/http-kit';
import { createLogger, type Logger } from '@scanner/logging';
import { createTestRedis, type TestRedis } from '@scanner/redis/testing';
import { ensureVolumeLayout, measureVolume } from '@scanner/storage';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { CleanupSettings } from '../src/cleanup-pass.js';
import { createJanitor, type Janitor } from '../src/janitor.js';

const run = promisify(execFile);

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export interface TmpfsVolume {
  root: string;
  unmount(): Promise<void>;
}

/** A small real filesystem of its own, so usage ratios (and tiers) are exact and isolated. */
export async function mountTmpfs(sizeMb = 8): Promise<TmpfsVolume> {
  const root = await mkdtemp(join(tmpdir(), 'janitor-volume-'));
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', root]);
  await ensureVolumeLayout(root);
  return {
    root,
    async unmount() {
      await run('umount', [root]).catch(() => run('umount', ['-l', root]));
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface JanitorFixture {
  /** The file's own database; set by `beforeAll`. */
  t: TestDatabase;
  /** The file's own Redis key prefix; set by `beforeAll`. */
  r: TestRedis;
  /** The file's own tmpfs volume; set by `beforeAll`. */
  volume: TmpfsVolume;
}

export interface JanitorFixtureOptions {
  /** Empty the tables and the volume before each test (`resetState`). Default false. */
  resetEachTest?: boolean;
  /** Size of the tmpfs volume in MiB. Default 8. */
  tmpfsMb?: number;
}

/**
 * Registers the hooks that give a test file its own database, Redis prefix and tmpfs volume, and
 * returns the object `beforeAll` fills in. Call it at the top level before the file's own hooks:
 * its `beforeAll` then runs first, and since after-hooks run in reverse order (vitest's default
 * `sequence.hooks: 'stack'`), the file's own `afterAll` releases what it opened before these are
 * torn down.
 */
export function useJanitorFixture({
  resetEachTest = false,
  tmpfsMb = 8,
}: JanitorFixtureOptions = {}): JanitorFixture {
  const fx = {} as JanitorFixture;
  beforeAll(async () => {
    [fx.t, fx.r, fx.volume] = await Promise.all([
      createTestDatabase(),
      createTestRedis(),
      mountTmpfs(tmpfsMb),
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled([fx.t?.drop(), fx.r?.cleanup(), fx.volume?.unmount()]);
  });
  if (resetEachTest) {
    beforeEach(async () => {
      await resetState(fx.t.db, fx.volume.root);
    });
  }
  return fx;
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes real content at its content address; returns its sha256. */
export async function storeBlob(root: string, bytes: Buffer = randomBytes(1000)): Promise<string> {
  const sha256 = sha256Of(bytes);
  const path = contentPath(root, sha256);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return sha256;
}

export const RESULTS = JSON.stringify(
  Object.fromEntries('ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('').map((l, i) => [l, i])),
);

export async function insertContent(
  db: Db,
  c: {
    sha256: string;
    status: ScanStatus;
    ageMs: number;
    sizeBytes?: number;
    blobPresent?: boolean;
  },
): Promise<void> {
  await db
    .insertInto('files')
    .values({
      sha256: c.sha256,
      size_bytes: c.sizeBytes ?? 1000,
      scan_status: c.status,
      results: c.status === 'completed' ? RESULTS : null,
      error_message: c.status === 'failed' ? 'scan failed' : null,
      scanned_at: c.status === 'completed' ? sql<Date>`now()` : null,
      blob_present: c.blobPresent ?? true,
      blob_deleted_at: c.blobPresent === false ? sql<Date>`now()` : null,
      first_uploaded_at: sql<Date>`now() - make_interval(secs => ${c.ageMs / 1000})`,
      last_uploaded_at: sql<Date>`now() - make_interval(secs => ${c.ageMs / 1000})`,
    })
    .execute();
}

/** Stored content with its row and one job in the matching state. */
export async function seedContent(
  db: Db,
  root: string,
  status: ScanStatus,
  ageMs: number,
  bytes: Buffer = randomBytes(1000),
): Promise<string> {
  const sha256 = await storeBlob(root, bytes);
  await insertContent(db, { sha256, status, ageMs, sizeBytes: bytes.length });
  await insertJob(db, { sha256, status, expiresAt: new Date(Date.now() + DAY_MS) });
  return sha256;
}

export async function insertJob(
  db: Db,
  j: { sha256: string; status: ScanStatus; expiresAt: Date; jobId?: string },
): Promise<string> {
  const jobId = j.jobId ?? randomUUID();
  const finished = j.status === 'completed' || j.status === 'failed';
  await db
    .insertInto('jobs')
    .values({
      job_id: jobId,
      sha256: j.sha256,
      original_filename: 'upload.txt',
      file_size: 1000,
      status: j.status,
      completed_at: finished ? new Date() : null,
      expires_at: j.expiresAt,
    })
    .execute();
  return jobId;
}

export async function fileRow(db: Db, sha256: string) {
  return db.selectFrom('files').selectAll().where('sha256', '=', sha256).executeTakeFirstOrThrow();
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function blobExists(root: string, sha256: string): Promise<boolean> {
  return exists(contentPath(root, sha256));
}

/** Sets a file's (or directory's) modification time `ageMs` into the past. */
export async function age(path: string, ageMs: number): Promise<void> {
  const when = new Date(Date.now() - ageMs);
  await utimes(path, when, when);
}

/** Writes filler until the volume's used ratio reaches `ratio`; returns the usage then. */
export async function fillVolumeTo(root: string, ratio: number): Promise<VolumeUsage> {
  const before = await measureVolume(root);
  const missing = Math.ceil(ratio * before.totalBytes) - before.usedBytes;
  if (missing > 0)
    await writeFile(join(root, `filler-${randomUUID()}.bin`), Buffer.alloc(missing, 0x61));
  return measureVolume(root);
}

/** Empties the tables and the volume (keeping `.tmp`) between tests sharing a database. */
export async function resetState(db: Db, root: string): Promise<void> {
  await db.deleteFrom('jobs').execute();
  await db.deleteFrom('files').execute();
  for (const name of await readdir(root)) {
    if (name !== '.tmp') await rm(join(root, name), { recursive: true, force: true });
  }
  await rm(tempDir(root), { recursive: true, force: true });
  await ensureVolumeLayout(root);
}

export function testSettings(
  root: string,
  overrides: Partial<CleanupSettings> = {},
): CleanupSettings {
  return {
    storageRoot: root,
    tierPolicy: DEFAULT_TIER_POLICY,
    tempMaxAgeMs: HOUR_MS,
    batchSize: 50,
    pruneEmptyDirs: true,
    ...overrides,
  };
}

export const silentLog: Logger = createLogger({ service: 'janitor', level: 'silent' });

export interface TestJanitor {
  janitor: Janitor;
  registry: Registry;
}

export function testJanitor(
  db: Db,
  redis: TestRedis,
  settings: CleanupSettings,
  intervalMs = 60_000,
): TestJanitor {
  const registry = new Registry();
  const janitor = createJanitor({
    db,
    redis: redis.redis,
    keys: redis.keys,
    log: silentLog,
    registry,
    settings,
    intervalMs,
  });
  return { janitor, registry };
}

/** The value of one metric series, as /metrics would show it. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  const { values } = await metric.get();
  const match = values.find(
    (v) =>
      (v as { metricName?: string }).metricName === undefined &&
      Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  return match?.value;
}

/** A deferred: a promise plus the function that settles it. */
export function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
