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
