import type { Scenario } from '../harness.js';
import { countingKernel } from './counting-kernel.js';
import { scanMemory } from './scan-memory.js';
import { workerScan } from './worker-scan.js';

/** Every scenario, in the order `pnpm bench` runs them. Add new ones here. */
export const scenarios: Scenario[] = [countingKernel, workerScan, scanMemory];
