import { serve, startServiceProcess } from '@scanner/runtime';
import { ensureVolumeLayout } from '@scanner/storage';
import { createApp } from './app.js';

const p = await startServiceProcess('status-query');
await ensureVolumeLayout(p.config.storage.rootPath);
const app = createApp({
  ...p,
  storageRoot: p.config.storage.rootPath,
  tierPolicy: p.config.storage.tierPolicy,
  jobCacheTtlSeconds: p.config.cache.jobTtlSeconds,
});
await serve(p, app);
