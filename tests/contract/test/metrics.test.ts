import { randomUUID } from 'node:crypto';
import { type Stack, type StackService, startStack } from '@scanner/test-stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, upload } from './contract-client.js';
import { pollJob, reprDigest, uniqueContent } from './helpers.js';
import { type MetricFamily, parsePrometheusText, samplesOf, sumOf } from './prometheus-text.js';

type Families = Map<string, MetricFamily>;

const SERVICE_LABEL: Record<StackService, string> = {
  gateway: 'upload-gateway',
  status: 'status-query',
  worker: 'scanner-worker',
  janitor: 'janitor',
};

// Node's standard process metrics (prom-client's collectDefaultMetrics) keep their standard
// names so stock dashboards work; the service's own metrics all carry the scanner_ prefix. Some
// standard gauges end in `_total` upstream; they are not ours to rename.
const STANDARD_PROCESS_METRIC = /^(process|nodejs)_/;
const DEFAULT_GAUGES_NAMED_TOTAL = new Set([
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]);
const NON_BASE_UNITS =
  /_(ms|msec|milliseconds|us|microseconds|ns|minutes|hours|days|kb|kib|mb|mib|gb|kilobytes|megabytes|percent|pct)(_|$)/;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const HEX64 = /[0-9a-f]{64}/i;

async function scrape(stack: Stack, service: StackService): Promise<Families> {
  const res = await fetch(`${stack.serviceUrl(service)}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

/** Prometheus naming and exposition rules every family of every service must follow. */
function namingProblems(families: Families, service: StackService): string[] {
  const problems: string[] = [];
  for (const f of families.values()) {
    const where = `${service} ${f.name}`;
    if (!f.name.startsWith('scanner_') && !STANDARD_PROCESS_METRIC.test(f.name)) {
      problems.push(`${where}: no scanner_ prefix`);
    }
    if (!f.help) problems.push(`${where}: no HELP`);
    if (f.type === 'untyped') problems.push(`${where}: no TYPE`);
    if (NON_BASE_UNITS.test(f.name))
      problems.push(`${where}: not in base units (seconds, bytes, ratio)`);
    if (f.type === 'counter' && !f.name.endsWith('_total'))
      problems.push(`${where}: counter without _total`);
    if (
      f.type !== 'counter' &&
      f.name.endsWith('_total') &&
      !DEFAULT_GAUGES_NAMED_TOTAL.has(f.name)
    ) {
      problems.push(`${where}: ${f.type} named _total`);
    }
    // A histogram of how many things: the things are its unit (scanner_worker_batch_entries).
    if (f.type === 'histogram' && !/_(seconds|bytes|ratio|entries)$/.test(f.name))
      problems.push(`${where}: histogram without a unit suffix`);
    if (
      /duration|latency|_time$|_age$/.test(f.name) &&
      !/_seconds(_total)?$/.test(f.name) &&
      f.type !== 'histogram'
    ) {
      problems.push(`${where}: a time not in _seconds`);
    }
    for (const s of f.samples) {
      if (s.labels.service !== SERVICE_LABEL[service])
        problems.push(`${where}: sample without service="${SERVICE_LABEL[service]}"`);
      for (const label of Object.keys(s.labels)) {
        if (!/^[a-z][a-z0-9_]*$/.test(label))
          problems.push(`${where}: label ${label} is not snake_case`);
      }
    }
    if (f.type === 'histogram') {
      // Every series: a +Inf bucket equal to _count.
      for (const count of f.samples.filter((s) => s.name === `${f.name}_count`)) {
        const { service: _s, ...key } = count.labels;
        const inf = f.samples.find(
          (s) =>
            s.name === `${f.name}_bucket` &&
            s.labels.le === '+Inf' &&
            Object.entries(key).every(([k, v]) => s.labels[k] === v),
        );
        if (inf?.value !== count.value)
          problems.push(`${where}${JSON.stringify(key)}: +Inf bucket ≠ _count`);
      }
    }
  }
  return problems;
}

describe('metrics after real traffic through the edge', () => {
  let stack: Stack;
  const before: Partial<Record<StackService, Families>> = {};
  const after: Partial<Record<StackService, Families>> = {};
  const content = uniqueContent('metrics');
  const size = Buffer.byteLength(content);

  beforeAll(async () => {
    // The worker starts after the first two uploads, so the second is certainly in flight.
    stack = await startStack({ services: ['gateway', 'status', 'janitor'] });
    for (const s of ['gateway', 'status', 'janitor'] as const) before[s] = await scrape(stack, s);

    const first = await upload(stack.url, content, 'm1.txt');
    expect(first.status).toBe(202);
    const inFlight = await upload(stack.url, content, 'm2.txt');
    expect([inFlight.status, (inFlight.body as { deduplication: boolean }).deduplication]).toEqual([
      202,
      true,
    ]);
    const rejected = await call('POST', `${stack.url}/api/v1/files`, {
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(rejected.status).toBe(415);
    expect((await call('GET', `${stack.url}/api/v1/files/not-a-uuid`)).status).toBe(400);
    expect((await call('GET', `${stack.url}/api/v1/files/${randomUUID()}`)).status).toBe(404);

    // A fresh process: every worker counter starts at zero (it may scan before a first scrape).
    before.worker = new Map();
    await stack.start('worker');
    const ids = [first, inFlight].map((r) => (r.body as { job_id: string }).job_id);
    for (const id of ids) expect((await pollJob(stack.url, id)).status).toBe('completed');

    expect((await upload(stack.url, content, 'm3.txt')).status).toBe(200);
    expect(
      (await upload(stack.url, content, 'm4.txt', { 'repr-digest': reprDigest(content) })).status,
    ).toBe(200);
    const cleanup = await call('POST', `${stack.url}/admin/cleanup`, {
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(cleanup.status).toBe(200);

    for (const s of ['gateway', 'status', 'worker', 'janitor'] as const)
      after[s] = await scrape(stack, s);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const moved = (s: StackService, name: string, labels: Record<string, string> = {}) =>
    sumOf(after[s] as Families, name, labels) - sumOf(before[s] as Families, name, labels);

  it('every service exposes well-named metrics only', () => {
    const problems = (['gateway', 'status', 'worker', 'janitor'] as const).flatMap((s) =>
      namingProblems(after[s] as Families, s),
    );
    expect(problems).toEqual([]);
  });

  it('gateway: uploads by outcome, bytes received, dedup hits by level', () => {
    expect(moved('gateway', 'scanner_uploads_total', { outcome: 'new' })).toBe(1);
    expect(moved('gateway', 'scanner_uploads_total', { outcome: 'duplicate_in_flight' })).toBe(1);
    expect(moved('gateway', 'scanner_uploads_total', { outcome: 'duplicate_completed' })).toBe(2);
    expect(moved('gateway', 'scanner_uploads_total', { outcome: 'rejected' })).toBe(1);
    // Three uploads were read to the end; the digest answer read none of its body.
    expect(moved('gateway', 'scanner_upload_received_bytes_total')).toBe(3 * size);
    expect(moved('gateway', 'scanner_dedup_hits_total', { level: 'in_flight' })).toBe(1);
    expect(moved('gateway', 'scanner_dedup_hits_total', { level: 'digest_header' })).toBe(1);
    expect(
      moved('gateway', 'scanner_dedup_hits_total', { level: 'redis' }) +
        moved('gateway', 'scanner_dedup_hits_total', { level: 'postgres' }),
    ).toBe(1);
  });

  it('worker: one scan for two jobs, its bytes, queue and dead-letter gauges', () => {
    expect(moved('worker', 'scanner_scan_duration_seconds_count')).toBe(1);
    expect(moved('worker', 'scanner_scanned_bytes_total')).toBe(size);
    expect(moved('worker', 'scanner_jobs_finished_total', { status: 'completed' })).toBe(2);
    const worker = after.worker as Families;
    for (const gauge of [
      'scanner_queue_length',
      'scanner_queue_pending_entries',
      'scanner_queue_consumer_group_lag',
      'scanner_dead_letter_entries',
    ]) {
      expect(worker.get(gauge)?.type, gauge).toBe('gauge');
      expect(samplesOf(worker, gauge), gauge).toHaveLength(1);
    }
    expect(sumOf(worker, 'scanner_queue_consumer_group_lag')).toBe(0);
    expect(sumOf(worker, 'scanner_dead_letter_entries')).toBe(0);
  });

  it('HTTP durations are labelled with route templates, never raw ids', () => {
    const route = (s: StackService, r: string, code: string) =>
      moved(s, 'scanner_http_request_duration_seconds_count', { route: r, status_code: code });
    expect(route('gateway', '/api/v1/files', '202')).toBe(2);
    expect(route('gateway', '/api/v1/files', '200')).toBe(2);
    expect(route('gateway', '/api/v1/files', '415')).toBe(1);
    expect(route('status', '/api/v1/files/:jobId', '200')).toBeGreaterThanOrEqual(2);
    expect(route('status', '/api/v1/files/:jobId', '400')).toBe(1);
    expect(route('status', '/api/v1/files/:jobId', '404')).toBe(1);
    expect(route('janitor', '/admin/cleanup', '200')).toBe(1);
    for (const s of ['gateway', 'status', 'worker', 'janitor'] as const) {
      for (const sample of samplesOf(
        after[s] as Families,
        'scanner_http_request_duration_seconds_count',
      )) {
        expect(sample.labels.route, JSON.stringify(sample.labels)).not.toMatch(UUID);
        expect(sample.labels.route, JSON.stringify(sample.labels)).not.toMatch(HEX64);
      }
    }
  });

  it('janitor: storage usage and tier, passes, last success', () => {
    const janitor = after.janitor as Families;
    const ratio = sumOf(janitor, 'scanner_storage_used_ratio');
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThanOrEqual(1);
    const tiers = samplesOf(janitor, 'scanner_storage_tier');
    expect(tiers.map((t) => t.labels.tier).sort()).toEqual([
      'critical',
      'emergency',
      'healthy',
      'warning',
    ]);
    expect(tiers.reduce((n, t) => n + t.value, 0)).toBe(1);
    expect(
      moved('janitor', 'scanner_janitor_passes_total', { outcome: 'completed' }),
    ).toBeGreaterThanOrEqual(1);
    expect(moved('janitor', 'scanner_janitor_pass_duration_seconds_count')).toBeGreaterThanOrEqual(
      1,
    );
    for (const counter of [
      'scanner_janitor_files_deleted_total',
      'scanner_janitor_bytes_deleted_total',
      'scanner_janitor_orphan_files_removed_total',
      'scanner_janitor_temp_files_removed_total',
      'scanner_janitor_jobs_expired_total',
    ]) {
      expect(janitor.get(counter)?.type, counter).toBe('counter');
    }
    const lastSuccess = sumOf(janitor, 'scanner_janitor_last_success_timestamp_seconds');
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(120);
  });
});
