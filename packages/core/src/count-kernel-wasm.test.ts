import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { wasmUnavailable } from './count-kernel-wasm.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

describe('the wasm kernel', () => {
  it('compiles on Node', () => {
    expect(wasmUnavailable).toBeNull();
  });

  it('is embedded exactly as wasm/letter-histogram.wat assembles today', async () => {
    // Fails when the .wat was edited without rebuilding: run `pnpm --filter @scanner/core build`.
    await expect(
      promisify(execFile)(process.execPath, ['wasm/build.mjs', '--check'], { cwd: packageDir }),
    ).resolves.toBeDefined();
  });
});
