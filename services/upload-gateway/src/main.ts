import './threadpool.js';
import { serve, startServiceProcess } from '@scanner/runtime';
import { ensureVolumeLayout } from '@scanner/storage';
import { createApp } from './app.js';

const p = await startServiceProcess('upload-gateway');
await ensureVolumeLayout(p.config.storage.rootPath);
const app = createApp({
  ...p,
  storageRoot: p.config.storage.rootPath,
  tierPolicy: p.config.storage.tierPolicy,
  maxUploadBytes: p.config.storage.maxUploadBytes,
  uploadTimeoutMs: p.config.storage.uploadTimeoutMs,
  jobRetentionMs: p.config.jobs.retentionMs,
  fileCacheTtlSeconds: p.config.cache.fileResultsTtlSeconds,
});
await serve(p, app);
