import { HttpError, type Registry } from '@scanner/http-kit';
import {
  type CleanupDeps,
  type PassReport,
  type PassTrigger,
  runCleanupPass,
} from './cleanup-pass.js';
import { janitorMetrics } from './janitor-metrics.js';

export interface JanitorDeps extends Omit<CleanupDeps, 'metrics'> {
  registry: Registry;
  /** Pause between the end of one scheduled pass and the start of the next. */
  intervalMs: number;
}

export interface Janitor {
  /** Runs a pass now (the periodic loop and the admin endpoint both come here). */
  runPass(opts: { dryRun?: boolean; trigger: PassTrigger }): Promise<PassReport>;
  /** Starts the periodic loop: a first pass at once, then one every `intervalMs`. */
  start(): void;
  /** Stops the loop, asks running passes to stop at their next safe point, and waits for them. */
  stop(): Promise<void>;
}

export function createJanitor(deps: JanitorDeps): Janitor {
  const cleanup: CleanupDeps = { ...deps, metrics: janitorMetrics(deps.registry) };
  const abort = new AbortController();
  const running = new Set<Promise<PassReport>>();
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let stopped = false;

  function runPass({
    dryRun = false,
    trigger,
  }: {
    dryRun?: boolean;
    trigger: PassTrigger;
  }): Promise<PassReport> {
    if (stopped) {
      return Promise.reject(
        new HttpError(503, 'shutting-down', 'Service Unavailable', 'the janitor is shutting down', {
          'Retry-After': '5',
        }),
      );
    }
    const pass = runCleanupPass(cleanup, { dryRun, trigger, signal: abort.signal });
    running.add(pass);
    pass.then(
      () => running.delete(pass),
      () => running.delete(pass),
    );
    return pass;
  }

  function schedule(delayMs: number): void {
    timer = setTimeout(() => {
      // A failed pass is already logged and counted; the loop goes on.
      void runPass({ trigger: 'schedule' })
        .catch(() => {})
        .finally(() => {
          if (!stopped) schedule(deps.intervalMs);
        });
    }, delayMs);
  }

  return {
    runPass,
    start() {
      if (started || stopped) return;
      started = true;
      schedule(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      abort.abort();
      await Promise.allSettled([...running]);
    },
  };
}
