import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

// Each file starts whole stacks of real processes: one file at a time keeps a 2-core machine from
// timing out start-ups.
export default mergeConfig(
  shared,
  defineConfig({ test: { fileParallelism: false, testTimeout: 60_000, hookTimeout: 120_000 } }),
);
