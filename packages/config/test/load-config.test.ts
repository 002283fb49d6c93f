import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envDefaults, loadConfig } from '../src/index.js';

describe('loadConfig', () => {
  it('gives every setting a default, with units in the names of the typed result', () => {
    const c = loadConfig('upload-gateway', {});
    expect(c.http.port).toBe(8001);
    expect(c.storage.maxUploadBytes).toBe(100 * 1024 * 1024);
    expect(c.storage.uploadTimeoutMs).toBe(300_000);
    expect(c.storage.tierPolicy).toMatchObject({
      warningAt: 0.85,
      criticalAt: 0.9,
      emergencyAt: 0.95,
    });
    expect(c.storage.tierPolicy.retentionMs.healthy).toBe(7 * 86_400_000);
    expect(c.storage.tierPolicy.retentionMs.emergency).toBe(12 * 3_600_000);
    expect(c.cache).toEqual({ jobTtlSeconds: 3600, fileResultsTtlSeconds: 86400 });
    expect(c.worker).toMatchObject({
      maxRetries: 3,
      concurrency: 128,
      largeFileScans: 8,
      batchWaitMs: 25,
      verifyScans: true,
    });
    expect(c.janitor.adminToken).toBeNull();
    expect(loadConfig('janitor', {}).http.port).toBe(8004);
  });

  it('parses booleans by their words: "false" is false', () => {
    expect(loadConfig('scanner-worker', { VERIFY_SCANS: 'false' }).worker.verifyScans).toBe(false);
    expect(loadConfig('scanner-worker', { VERIFY_SCANS: '0' }).worker.verifyScans).toBe(false);
    expect(loadConfig('scanner-worker', { VERIFY_SCANS: 'yes' }).worker.verifyScans).toBe(true);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig('status-query', { PORT: '', ADMIN_TOKEN: '' }).http.port).toBe(8002);
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      loadConfig('upload-gateway', {
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        MAX_FILE_SIZE_MB: '-1',
        VERIFY_SCANS: 'maybe',
        ADMIN_TOKEN: 'short',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const key of ['PORT', 'DATABASE_URL', 'MAX_FILE_SIZE_MB', 'VERIFY_SCANS', 'ADMIN_TOKEN']) {
      expect(problems).toContain(key);
    }
  });

  it('checks that tier thresholds are ordered', () => {
    expect(() =>
      loadConfig('janitor', { STORAGE_WARNING_PERCENT: '95', STORAGE_EMERGENCY_PERCENT: '90' }),
    ).toThrow(/STORAGE_WARNING_PERCENT < STORAGE_CRITICAL_PERCENT < STORAGE_EMERGENCY_PERCENT/);
  });

  it('.env.example lists every variable with its default', () => {
    const text = readFileSync(join(import.meta.dirname, '..', '..', '..', '.env.example'), 'utf8');
    const documented = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const defaults = envDefaults();
    expect(Object.keys(documented).sort()).toEqual(Object.keys(defaults).sort());
    for (const [key, value] of Object.entries(defaults))
      expect(documented[key], key).toBe(value ?? '');
  });
});
