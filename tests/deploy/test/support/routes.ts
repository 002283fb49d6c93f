import { readFileSync } from 'node:fs';
import { NGINX_CONF, nginxUpstreams as parseUpstreams } from '@scanner/edge/nginx';

export type Backend = 'upload-gateway' | 'status-query' | 'janitor';

export interface RouteCase {
  method: string;
  path: string;
  /** The service that must answer, or null when the edge itself answers 404. */
  backend: Backend | null;
}

/**
 * What a client of the one base URL can reach (SPEC.md "HTTP API" and the brief): both the nginx
 * edge and the Kubernetes Ingress must route exactly so. Internal endpoints (probes, metrics) stay
 * private.
 */
export const ROUTE_CASES: RouteCase[] = [
  { method: 'POST', path: '/api/v1/files', backend: 'upload-gateway' },
  {
    method: 'GET',
    path: '/api/v1/files/0f6b7c4e-2f0a-4a9e-9d55-3c1c8e0b8a11',
    backend: 'status-query',
  },
  { method: 'GET', path: `/api/v1/hashes/${'a'.repeat(64)}`, backend: 'status-query' },
  { method: 'GET', path: '/api/v1/hashes/not-a-hash', backend: 'status-query' },
  { method: 'GET', path: '/health', backend: 'status-query' },
  { method: 'GET', path: '/openapi.json', backend: 'status-query' },
  { method: 'GET', path: '/docs', backend: 'status-query' },
  { method: 'GET', path: '/docs/swagger-ui.css', backend: 'status-query' },
  { method: 'POST', path: '/admin/cleanup', backend: 'janitor' },
  { method: 'GET', path: '/', backend: null },
  { method: 'GET', path: '/metrics', backend: null },
  { method: 'GET', path: '/readyz', backend: null },
  { method: 'GET', path: '/healthz', backend: null },
  { method: 'GET', path: '/api/v1/filesystem', backend: null },
  { method: 'GET', path: '/api/v1/other', backend: null },
  { method: 'GET', path: '/healthcheck', backend: null },
  { method: 'GET', path: '/documentation', backend: null },
];

export { NGINX_CONF };

export interface NginxLocation {
  modifier: '=' | '' | '^~';
  path: string;
  /** The upstream block it proxies to, if it proxies. */
  upstream: string | null;
}

/** The literal `location` blocks of the edge's server (regex locations are not used). */
export function nginxLocations(conf = readFileSync(NGINX_CONF, 'utf8')): NginxLocation[] {
  const out: NginxLocation[] = [];
  const re = /location\s+(=|\^~)?\s*([^\s{]+)\s*\{([^}]*)\}/g;
  for (const m of conf.matchAll(re)) {
    const proxy = /proxy_pass\s+http:\/\/([A-Za-z0-9_]+)\s*;/.exec(m[3] ?? '');
    out.push({
      modifier: (m[1] ?? '') as NginxLocation['modifier'],
      path: m[2] ?? '',
      upstream: proxy?.[1] ?? null,
    });
  }
  return out;
}

/** `upstream name { server host:port; … }` blocks. */
export const nginxUpstreams = (conf = readFileSync(NGINX_CONF, 'utf8')) => parseUpstreams(conf);

export interface IngressPath {
  path: string;
  pathType: 'Exact' | 'Prefix' | 'ImplementationSpecific';
  service: string;
}

function prefixMatches(prefix: string, path: string): boolean {
  // Kubernetes Prefix: element-wise on "/"-split paths, trailing slashes ignored.
  const want = prefix.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  return want.length <= got.length && want.every((el, i) => got[i] === el);
}

/**
 * The backend the Ingress rules pick for a path, per the Ingress specification: the longest
 * matching path wins, Exact before Prefix at equal length. null = no rule (the controller's 404).
 */
export function ingressBackend(paths: IngressPath[], path: string): string | null {
  const matches = paths.filter((p) =>
    p.pathType === 'Exact'
      ? p.path === path
      : p.pathType === 'Prefix' && prefixMatches(p.path, path),
  );
  matches.sort((a, b) => {
    const len = b.path.replace(/\/+$/, '').length - a.path.replace(/\/+$/, '').length;
    if (len !== 0) return len;
    return (a.pathType === 'Exact' ? 0 : 1) - (b.pathType === 'Exact' ? 0 : 1);
  });
  return matches[0]?.service ?? null;
}
