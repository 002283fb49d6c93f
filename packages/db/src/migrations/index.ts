import type { Migration, MigrationProvider } from 'kysely';
import * as filesAndJobs from './2026_11_29_0001_files_and_jobs.js';
import * as finishScanFunction from './2026_11_29_0002_finish_scan_function.js';
import * as scanBatchFunctions from './2026_11_29_0003_scan_batch_functions.js';
import * as completeScansFunction from './2026_11_29_0004_complete_scans_function.js';
import * as dropFinishScanFunction from './2026_11_29_0005_drop_finish_scan_function.js';
import * as jobsHotUpdates from './2026_11_29_0006_jobs_hot_updates.js';

// A static list instead of a folder scan: works the same from src/ under tests and from dist/ in
// production, and a bundler or `pnpm deploy` cannot drop a migration silently.
const migrations: Record<string, Migration> = {
  '2026_11_29_0001_files_and_jobs': filesAndJobs,
  '2026_11_29_0002_finish_scan_function': finishScanFunction,
  '2026_11_29_0003_scan_batch_functions': scanBatchFunctions,
  '2026_11_29_0004_complete_scans_function': completeScansFunction,
  '2026_11_29_0005_drop_finish_scan_function': dropFinishScanFunction,
  '2026_11_29_0006_jobs_hot_updates': jobsHotUpdates,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};

export const migrationNames = Object.keys(migrations);
