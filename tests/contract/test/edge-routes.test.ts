import { openApiDocument } from '@scanner/api-contract';
import { EDGE_ROUTES } from '@scanner/edge/routes';
import { describe, expect, it } from 'vitest';

// A documented path with its parameters filled in, as a client would send it.
const concrete = (template: string) => template.replace(/\{[^}]+\}/g, 'x');
const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

const documented = Object.entries(openApiDocument.paths).flatMap(([path, item]) =>
  Object.keys(item).map((method) => ({ path, method: method.toUpperCase() })),
);

describe('the edge routing table and the document agree', () => {
  it('every documented operation is routed by the edge', () => {
    const unrouted = documented.filter(
      ({ path, method }) =>
        !EDGE_ROUTES.some(
          (r) => under(concrete(path), r.prefix) && (r.methods as string[]).includes(method),
        ),
    );
    expect(unrouted).toEqual([]);
  });

  it('every route the edge opens leads to a documented operation', () => {
    const undocumented = EDGE_ROUTES.flatMap((r) =>
      r.methods
        .filter((m) => m !== 'OPTIONS')
        // HEAD is answered wherever GET is.
        .map((m) => (m === 'HEAD' ? 'GET' : m))
        .filter((m) => !documented.some((d) => d.method === m && under(concrete(d.path), r.prefix)))
        .map((m) => `${m} ${r.prefix} → ${r.upstream}`),
    );
    expect(undocumented).toEqual([]);
  });
});
