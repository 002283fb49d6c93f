import { serve, startServiceProcess } from '@scanner/runtime';
import { ensureVolumeLayout } from '@scanner/storage';
import { createApp } from './app.js';
import { DEFAULT_BATCH_SIZE } from './cleanup-pass.js';
import { createJanitor } from './janitor.js';

const p = await startServiceProcess('janitor');
const { storage, janitor: settings } = p.config;
await ensureVolumeLayout(storage.rootPath);
const janitor = createJanitor({
  ...p,
  intervalMs: settings.intervalMs,
  settings: {
    storageRoot: storage.rootPath,
    tierPolicy: storage.tierPolicy,
    tempMaxAgeMs: storage.tempMaxAgeMs,
    batchSize: DEFAULT_BATCH_SIZE,
    pruneEmptyDirs: true,
    recovery: {
      republishAfterMs: p.config.worker.republishAfterMs,
      staleAfterMs: p.config.worker.claimIdleMs,
    },
  },
});
const app = createApp({ ...p, janitor, adminToken: settings.adminToken });
if (settings.adminToken === null)
  p.log.info('ADMIN_TOKEN not set: POST /admin/cleanup is disabled');
await serve(p, app, [['finish cleanup pass', () => janitor.stop()]]);
janitor.start();
