import type { Router } from 'express';

export type ReadinessCheck = () => Promise<Record<string, boolean>>;

export interface Lifecycle {
  /** Flipped by the shutdown path so /readyz turns 503 before the server stops accepting. */
  shuttingDown: boolean;
}

/** `/healthz`: the process answers. `/readyz`: its dependencies answer and it is not draining. */
export function mountProbes(
  router: Router,
  lifecycle: Lifecycle,
  checkReady: ReadinessCheck,
): void {
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    if (lifecycle.shuttingDown) {
      res.status(503).json({ status: 'shutting_down' });
      return;
    }
    const checks = await checkReady().catch(() => ({ checks: false }));
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });
}
