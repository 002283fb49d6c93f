import { serve, startServiceProcess } from '@scanner/runtime';
import { createApp } from './app.js';
import { createWorker } from './worker.js';

const p = await startServiceProcess('scanner-worker');
const worker = createWorker(p);
const app = createApp({ ...p, consumerRunning: () => worker.running() });
await serve(p, app, [
  // In-flight scans get the shutdown budget minus a margin for acknowledging and closing clients.
  ['drain scans', () => worker.stop(Math.max(0, p.config.shutdown.timeoutMs - 3_000))],
]);
await worker.start();
