import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages export their TypeScript sources under the "@scanner/source" condition so
// tests run against src/ without a build; production resolves the same imports to dist/.
const conditions = ['@scanner/source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: process.env.TEST_RESULTS_FILE ? ['default', 'json'] : ['default'],
    outputFile: process.env.TEST_RESULTS_FILE ? { json: process.env.TEST_RESULTS_FILE } : {},
  },
});
