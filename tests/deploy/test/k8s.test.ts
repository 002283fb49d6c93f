// infra/k8s: every manifest against the Kubernetes (and KEDA) schemas, then what the system needs
// of them: probes, grace periods, non-root pods, the shared RWX volume, routes equal to the edge's,
// the worker scaled on the stream its code uses.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { envDefaults } from '@scanner/config';
import { redisKeys } from '@scanner/redis';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  K8S_DIR,
  loadManifests,
  type Manifest,
  podSpec,
  unknownFieldProblems,
  validateManifest,
} from './support/k8s.js';
import { type IngressPath, ingressBackend, ROUTE_CASES } from './support/routes.js';
import { lazy, SERVICE_NAMES, SERVICES, type ServiceName } from './support/tools.js';

const NAMESPACE = 'scanner';
const PRE_STOP_ALLOWANCE_S = 10;

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, checked field by field
type Any = any;

function byKind(all: Manifest[], kind: string): Manifest[] {
  return all.filter((m) => m.kind === kind);
}

function one(all: Manifest[], kind: string, name: string): Manifest {
  const found = all.filter((m) => m.kind === kind && m.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as Manifest;
}

function container(m: Manifest): Any {
  const containers = podSpec(m)?.containers ?? [];
  expect(containers, m.origin).toHaveLength(1);
  return containers[0];
}

function envNames(c: Any): string[] {
  return (c.env ?? []).map((e: Any) => e.name);
}

describe('Kubernetes manifests', () => {
  // Loaded on first use: a broken file fails every test with the reason instead of skipping them.
  const all = lazy(loadManifests);
  const config = lazy(
    (): Record<string, string> => one(all(), 'ConfigMap', 'scanner-config').doc.data,
  );
  const secret = lazy(
    (): Record<string, string> => one(all(), 'Secret', 'scanner-secrets').doc.stringData,
  );

  it('are all valid against the Kubernetes and KEDA schemas', async () => {
    expect(all().length).toBeGreaterThan(0);
    const problems = (await Promise.all(all().map(validateManifest))).flat();
    expect(problems).toEqual([]);
  });

  it('use no field the schemas do not define (a misspelt key is an error)', () => {
    expect(unknownFieldProblems(all())).toEqual([]);
  }, 60_000);

  it('are all listed in kustomization.yaml, which lists nothing else', () => {
    const kustomization = parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8'));
    const files = readdirSync(K8S_DIR).filter(
      (f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml',
    );
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(kustomization.namespace).toBe(NAMESPACE);
    const images = kustomization.images.map((i: Any) => i.name).sort();
    const used = all()
      .flatMap((m) => podSpec(m)?.containers ?? [])
      .map((c: Any) => String(c.image).split(':')[0])
      .sort();
    expect(images).toEqual([...new Set(used)].sort());
  });

  it('live in the scanner namespace', () => {
    const namespace = one(all(), 'Namespace', NAMESPACE);
    expect(namespace.doc.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const m of all().filter((x) => x.kind !== 'Namespace'))
      expect(m.namespace, m.origin).toBe(NAMESPACE);
  });

  it('configure every variable the services read (ConfigMap, Secret or the container env)', () => {
    const perContainer = new Set(['PORT']);
    const provided = new Set([...Object.keys(config()), ...Object.keys(secret()), ...perContainer]);
    const missing = Object.keys(envDefaults()).filter((k) => !provided.has(k));
    expect(missing).toEqual([]);
    for (const [key, value] of Object.entries(config())) expect(typeof value, key).toBe('string');
  });

  it('point KEDA at the same Redis as the services', () => {
    const url = new URL(secret().REDIS_URL as string);
    expect(secret().REDIS_ADDRESS).toBe(`${url.hostname}:${url.port || '6379'}`);
    expect(secret().REDIS_PASSWORD).toBe(decodeURIComponent(url.password));
  });

  describe.each(SERVICE_NAMES)('%s', (name: ServiceName) => {
    const port = SERVICES[name];
    const deployment = lazy(() => one(all(), 'Deployment', name));
    const c = lazy((): Any => container(deployment()));

    it('runs its image on its port', () => {
      expect(c().image).toMatch(new RegExp(`^scanner/${name}(:|$)`));
      expect(c().ports).toEqual([expect.objectContaining({ name: 'http', containerPort: port })]);
      expect(c().env).toContainEqual({ name: 'PORT', value: String(port) });
    });

    it('has a liveness probe on /healthz and a readiness probe on /readyz', () => {
      expect(c().livenessProbe?.httpGet).toMatchObject({ path: '/healthz' });
      expect(c().readinessProbe?.httpGet).toMatchObject({ path: '/readyz' });
      for (const probe of [c().livenessProbe, c().readinessProbe, c().startupProbe].filter(
        Boolean,
      )) {
        expect([port, 'http']).toContain(probe.httpGet.port);
      }
    });

    it('outlasts its own drain: terminationGracePeriodSeconds > SHUTDOWN_TIMEOUT_MS + preStop', () => {
      const shutdownS = Number(config().SHUTDOWN_TIMEOUT_MS) / 1000;
      expect(shutdownS).toBeGreaterThan(0);
      expect(podSpec(deployment()).terminationGracePeriodSeconds).toBeGreaterThan(
        shutdownS + PRE_STOP_ALLOWANCE_S,
      );
      const preStop = c().lifecycle?.preStop?.exec?.command ?? [];
      if (preStop[0] === 'sleep')
        expect(Number(preStop[1])).toBeLessThanOrEqual(PRE_STOP_ALLOWANCE_S);
    });

    it('sets requests and limits', () => {
      expect(c().resources?.requests).toMatchObject({
        cpu: expect.anything(),
        memory: expect.anything(),
      });
      expect(c().resources?.limits).toMatchObject({
        cpu: expect.anything(),
        memory: expect.anything(),
      });
    });

    it('runs as non-root under the restricted Pod Security Standard', () => {
      const pod = podSpec(deployment()).securityContext;
      expect(pod).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.runAsUser).toBeGreaterThan(0);
      expect(c().securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
    });

    it('mounts the shared content volume at FILE_STORAGE_PATH', () => {
      const volumes = podSpec(deployment()).volumes ?? [];
      const content = volumes.find(
        (v: Any) => v.persistentVolumeClaim?.claimName === 'scanner-content',
      );
      expect(content).toBeDefined();
      const mount = (c().volumeMounts ?? []).find((v: Any) => v.name === content.name);
      expect(mount?.mountPath).toBe(config().FILE_STORAGE_PATH);
      // The worker only reads content; the others write, delete or create the volume layout.
      expect(mount?.readOnly === true).toBe(name === 'scanner-worker');
    });

    it('gets DATABASE_URL and REDIS_URL from the Secret', () => {
      for (const key of ['DATABASE_URL', 'REDIS_URL']) {
        const entry = (c().env ?? []).find((e: Any) => e.name === key);
        expect(entry?.valueFrom?.secretKeyRef, key).toMatchObject({ name: 'scanner-secrets', key });
      }
      expect(c().envFrom).toContainEqual({ configMapRef: { name: 'scanner-config' } });
    });

    it('is selected by its Service on the http port', () => {
      const svc = one(all(), 'Service', name);
      const labels = deployment().doc.spec.template.metadata.labels;
      expect(deployment().doc.spec.selector.matchLabels).toEqual(
        expect.objectContaining(svc.doc.spec.selector),
      );
      for (const [k, v] of Object.entries(svc.doc.spec.selector)) expect(labels[k]).toBe(v);
      expect(svc.doc.spec.ports).toContainEqual(
        expect.objectContaining({ port, targetPort: 'http' }),
      );
    });
  });

  it('gives ADMIN_TOKEN to the janitor only', () => {
    for (const name of SERVICE_NAMES) {
      const has = envNames(container(one(all(), 'Deployment', name))).includes('ADMIN_TOKEN');
      expect(has, name).toBe(name === 'janitor');
    }
  });

  it('claims the content volume ReadWriteMany', () => {
    const pvcs = byKind(all(), 'PersistentVolumeClaim');
    expect(pvcs.map((p) => p.name)).toEqual(['scanner-content']);
    expect(pvcs[0]?.doc.spec.accessModes).toContain('ReadWriteMany');
  });

  it('migrates with a Job running scanner-migrate from the migrate image', () => {
    const job = one(all(), 'Job', 'scanner-migrate');
    const spec = podSpec(job);
    const c = container(job);
    expect(c.image).toMatch(/^scanner\/migrate(:|$)/);
    expect(['Never', 'OnFailure']).toContain(spec.restartPolicy);
    expect(job.doc.spec.backoffLimit).toBeGreaterThan(0);
    expect(c.env).toContainEqual({
      name: 'DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'scanner-secrets', key: 'DATABASE_URL' } },
    });
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true });
  });

  describe('scanner-worker autoscaling (KEDA)', () => {
    const scaled = lazy(() => one(all(), 'ScaledObject', 'scanner-worker'));

    it('targets the scanner-worker Deployment, which leaves its replica count to KEDA', () => {
      expect(scaled().doc.spec.scaleTargetRef).toMatchObject({
        kind: 'Deployment',
        name: 'scanner-worker',
      });
      expect(one(all(), 'Deployment', 'scanner-worker').doc.spec.replicas).toBeUndefined();
      expect(scaled().doc.spec.minReplicaCount).toBeGreaterThanOrEqual(0);
      expect(scaled().doc.spec.maxReplicaCount).toBeGreaterThan(scaled().doc.spec.minReplicaCount);
    });

    it('watches the stream and consumer group the worker uses, by lag and by pending entries', () => {
      const keys = redisKeys(config().REDIS_KEY_PREFIX ?? '');
      const triggers = scaled().doc.spec.triggers as Any[];
      for (const t of triggers) {
        expect(t.type).toBe('redis-streams');
        expect(t.metadata).toMatchObject({
          stream: keys.scanStream,
          consumerGroup: keys.scanGroup,
        });
      }
      expect(triggers.some((t) => Number(t.metadata.lagCount) > 0)).toBe(true);
      expect(triggers.some((t) => Number(t.metadata.pendingEntriesCount) > 0)).toBe(true);
    });

    it('reads the Redis address and password from places that exist', () => {
      const worker = container(one(all(), 'Deployment', 'scanner-worker'));
      for (const t of scaled().doc.spec.triggers as Any[]) {
        if (t.metadata.addressFromEnv)
          expect(envNames(worker)).toContain(t.metadata.addressFromEnv);
        if (t.authenticationRef) {
          const auth = one(all(), 'TriggerAuthentication', t.authenticationRef.name);
          for (const ref of auth.doc.spec.secretTargetRef) {
            expect(ref.name).toBe('scanner-secrets');
            expect(Object.keys(secret())).toContain(ref.key);
          }
        }
      }
    });
  });

  it('routes the Ingress exactly like the nginx edge', () => {
    const paths: IngressPath[] = byKind(all(), 'Ingress').flatMap((ing) =>
      ing.doc.spec.rules.flatMap((rule: Any) =>
        rule.http.paths.map((p: Any) => ({
          path: p.path,
          pathType: p.pathType,
          service: p.backend.service.name,
        })),
      ),
    );
    for (const c of ROUTE_CASES) {
      expect(ingressBackend(paths, c.path), `${c.method} ${c.path}`).toBe(c.backend);
    }
    // Every rule is reached by some route case, so a rule the edge lacks cannot hide.
    for (const p of paths) {
      const reached = ROUTE_CASES.some((c) => ingressBackend([p], c.path) !== null);
      expect(reached, `${p.pathType} ${p.path}`).toBe(true);
    }
  });

  it('streams uploads through the Ingress without a body cap', () => {
    const upload = byKind(all(), 'Ingress').find((ing) =>
      ing.doc.spec.rules.some((r: Any) =>
        r.http.paths.some((p: Any) => p.path === '/api/v1/files' && p.pathType === 'Exact'),
      ),
    );
    expect(upload?.doc.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/proxy-body-size': '0',
      'nginx.ingress.kubernetes.io/proxy-request-buffering': 'off',
    });
  });
});
