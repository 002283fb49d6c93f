export type Upstream = 'gateway' | 'status' | 'janitor';

export interface EdgeRoute {
  prefix: string;
  upstream: Upstream;
  methods: Array<'GET' | 'HEAD' | 'POST' | 'OPTIONS'>;
}

/**
 * The public routing table, the same as infra/nginx/nginx.conf and the k8s Ingress: uploads go to
 * the gateway, every read to status-query, admin to the janitor.
 */
export const EDGE_ROUTES: EdgeRoute[] = [
  { prefix: '/api/v1/files', upstream: 'gateway', methods: ['POST'] },
  { prefix: '/api/v1/files', upstream: 'status', methods: ['GET', 'HEAD'] },
  { prefix: '/api/v1/hashes', upstream: 'status', methods: ['GET', 'HEAD'] },
  { prefix: '/health', upstream: 'status', methods: ['GET', 'HEAD'] },
  { prefix: '/openapi.json', upstream: 'status', methods: ['GET', 'HEAD'] },
  { prefix: '/docs', upstream: 'status', methods: ['GET', 'HEAD'] },
  { prefix: '/admin', upstream: 'janitor', methods: ['POST'] },
];

/** The route for a request, by method and path (`prefix` itself or anything under `prefix/`). */
export function findRoute(method: string | undefined, path: string): EdgeRoute | undefined {
  for (const route of EDGE_ROUTES) {
    const { prefix } = route;
    if (
      (path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47)) &&
      (route.methods as string[]).includes(method ?? '')
    ) {
      return route;
    }
  }
  return undefined;
}
