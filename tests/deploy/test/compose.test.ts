// docker-compose.yml and its production override, as Compose itself resolves them.
import { envDefaults } from '@scanner/config';
import { describe, expect, it } from 'vitest';
import {
  type ComposeConfig,
  type ComposeService,
  composeConfig,
  durationMs,
  mounts,
} from './support/compose.js';
import { lazy, SERVICE_NAMES, SERVICES } from './support/tools.js';

const APP_SERVICES = SERVICE_NAMES;
const ALL_SERVICES = ['postgres', 'redis', 'migrate', ...APP_SERVICES, 'edge'];
const CONTENT_TARGET = '/data/files';
/** The worker only reads content (SPEC.md); the others write, delete or create the layout. */
const READS_CONTENT_ONLY = new Set(['scanner-worker']);

// Compose runs on first use; when it cannot (not installed), every test fails with the reason.
const base = lazy(() => composeConfig(['docker-compose.yml']));
const prod = lazy(() => composeConfig(['docker-compose.yml', 'docker-compose.prod.yml']));

function service(config: ComposeConfig, name: string): ComposeService {
  const s = config.services[name];
  if (!s) throw new Error(`compose has no service ${name}`);
  return s;
}

function conditions(s: ComposeService): Record<string, string> {
  const deps = s.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v.condition]));
}

function healthTest(s: ComposeService): string {
  const test = s.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
}

describe('docker-compose.yml', () => {
  it('defines exactly the stack: postgres, redis, migrate, the four services and the edge', () => {
    expect(Object.keys(base().services).sort()).toEqual([...ALL_SERVICES].sort());
  });

  it('runs Postgres 15 and Redis 7 with persistent volumes, Redis with an append-only file', () => {
    const pg = service(base(), 'postgres');
    expect(pg.image).toMatch(/^postgres:15([.-]|$)/);
    expect(pg.environment?.POSTGRES_DB).toBe('scanner');
    expect(mounts(pg).map((m) => m.target)).toContain('/var/lib/postgresql/data');

    const redis = service(base(), 'redis');
    expect(redis.image).toMatch(/^redis:7([.-]|$)/);
    const command = Array.isArray(redis.command) ? redis.command.join(' ') : (redis.command ?? '');
    expect(command).toMatch(/--appendonly\s+yes/);
    expect(mounts(redis).map((m) => m.target)).toContain('/data');
  });

  it('gives every long-running container a health check', () => {
    for (const name of ALL_SERVICES.filter((n) => n !== 'migrate')) {
      const s = service(base(), name);
      expect(s.healthcheck?.disable, name).not.toBe(true);
      expect(healthTest(s), name).not.toBe('');
    }
    expect(healthTest(service(base(), 'postgres'))).toMatch(/pg_isready/);
    expect(healthTest(service(base(), 'redis'))).toMatch(/redis-cli.*ping/);
    for (const name of APP_SERVICES) {
      expect(healthTest(service(base(), name)), name).toMatch(
        /node \/usr\/local\/lib\/scanner\/healthcheck\.mjs/,
      );
    }
    expect(healthTest(service(base(), 'edge'))).toMatch(/127\.0\.0\.1:8000\/edge\/healthz/);
  });

  it('migrates once, after Postgres is healthy, from the migrate target of the shared Dockerfile', () => {
    const migrate = service(base(), 'migrate');
    expect(migrate.build).toMatchObject({
      dockerfile: 'infra/docker/Dockerfile',
      target: 'migrate',
      args: { PACKAGE: '@scanner/db' },
    });
    expect(conditions(migrate)).toEqual({ postgres: 'service_healthy' });
    expect(migrate.restart ?? 'no').toBe('no');
    expect(migrate.environment?.DATABASE_URL).toMatch(
      /^postgresql:\/\/[^@]+@postgres:5432\/scanner$/,
    );
  });

  it.each(APP_SERVICES)(
    '%s starts after healthy Postgres and Redis and a completed migration',
    (name) => {
      expect(conditions(service(base(), name))).toEqual({
        postgres: 'service_healthy',
        redis: 'service_healthy',
        migrate: 'service_completed_successfully',
      });
    },
  );

  it.each(APP_SERVICES)(
    '%s is built from the shared Dockerfile for its own package and port',
    (name) => {
      const s = service(base(), name);
      const port = String(SERVICES[name]);
      expect(s.build).toMatchObject({
        dockerfile: 'infra/docker/Dockerfile',
        target: 'service',
        args: { PACKAGE: `@scanner/${name}`, PORT: port },
      });
      expect(s.environment?.PORT).toBe(port);
      expect(s.environment?.DATABASE_URL).toMatch(/@postgres:5432\/scanner$/);
      expect(s.environment?.REDIS_URL).toBe('redis://redis:6379/0');
      expect(s.environment?.FILE_STORAGE_PATH).toBe(CONTENT_TARGET);
    },
  );

  it.each(APP_SERVICES)('%s can be given every configuration variable', (name) => {
    const env = service(base(), name).environment ?? {};
    const missing = Object.keys(envDefaults()).filter((key) => !(key in env));
    expect(missing, `variables @scanner/config reads but compose does not pass to ${name}`).toEqual(
      [],
    );
  });

  it.each(APP_SERVICES)('%s drains within its stop grace period', (name) => {
    const s = service(base(), name);
    const shutdownMs = Number(s.environment?.SHUTDOWN_TIMEOUT_MS || 25_000);
    expect(durationMs(s.stop_grace_period)).toBeGreaterThan(shutdownMs);
  });

  it('shares one named content volume between the four services, read-only for the worker', () => {
    expect(Object.keys(base().volumes ?? {})).toContain('content');
    for (const name of APP_SERVICES) {
      const content = mounts(service(base(), name)).filter((m) => m.target === CONTENT_TARGET);
      expect(content, name).toHaveLength(1);
      expect(content[0]?.source, name).toBe('content');
      expect(content[0]?.readOnly, name).toBe(READS_CONTENT_ONLY.has(name));
    }
  });

  it('publishes only the edge, on 8000, with the nginx.conf from infra/nginx', () => {
    for (const name of ALL_SERVICES.filter((n) => n !== 'edge')) {
      expect(service(base(), name).ports ?? [], name).toEqual([]);
    }
    const edge = service(base(), 'edge');
    expect(edge.image).toMatch(/^nginx:/);
    const published = (edge.ports ?? []).map((p) =>
      typeof p === 'string' ? p : `${p.published}:${p.target}`,
    );
    expect(published).toEqual(['8000:8000']);
    const conf = mounts(edge).find((m) => m.target === '/etc/nginx/nginx.conf');
    expect(conf?.source).toMatch(/infra\/nginx\/nginx\.conf$/);
    expect(conf?.readOnly).toBe(true);
    expect(conditions(edge)).toEqual({
      'upload-gateway': 'service_healthy',
      'status-query': 'service_healthy',
      janitor: 'service_healthy',
    });
  });
});

describe('docker-compose.yml + docker-compose.prod.yml', () => {
  it('keeps the same services, health checks and start conditions', () => {
    expect(Object.keys(prod().services).sort()).toEqual([...ALL_SERVICES].sort());
    for (const name of ALL_SERVICES) {
      expect(service(prod(), name).healthcheck, name).toEqual(service(base(), name).healthcheck);
      expect(conditions(service(prod(), name)), name).toEqual(conditions(service(base(), name)));
    }
  });

  it('limits the memory and CPU of every container', () => {
    for (const name of ALL_SERVICES) {
      const limits = service(prod(), name).deploy?.resources?.limits;
      expect(limits?.memory, name).toBeTruthy();
      expect(limits?.cpus, name).toBeTruthy();
    }
  });

  it('restarts every long-running container, never the one-shot migration', () => {
    for (const name of ALL_SERVICES.filter((n) => n !== 'migrate')) {
      expect(['always', 'unless-stopped'], name).toContain(service(prod(), name).restart);
    }
    expect(service(prod(), 'migrate').restart ?? 'no').toBe('no');
  });

  it('runs several scanner-workers', () => {
    expect(service(prod(), 'scanner-worker').deploy?.replicas).toBeGreaterThan(1);
  });
});
