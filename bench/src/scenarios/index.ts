import type { Scenario } from '../harness.js';
import { countingKernel } from './counting-kernel.js';
import { scanMemory } from './scan-memory.js';
import { upload1kb } from './upload-1kb.js';
import { uploadCompletion } from './upload-completion.js';
import { uploadDedup, uploadHashFirst } from './upload-dedup.js';
import { uploadLarge } from './upload-large.js';
import { uploadMemory } from './upload-memory.js';
import { workerScan } from './worker-scan.js';

/** Every scenario, in the order `pnpm bench` runs them. Add new ones here. */
export const scenarios: Scenario[] = [
  countingKernel,
  workerScan,
  scanMemory,
  uploadLarge,
  upload1kb,
  uploadCompletion,
  uploadDedup,
  uploadHashFirst,
  uploadMemory,
];
