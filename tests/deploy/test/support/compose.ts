import { parse } from 'yaml';
import { repoRoot, requireTool, run } from './tools.js';

export const COMPOSE_APT_PACKAGE = 'docker-compose';

export interface ComposeHealthcheck {
  test?: string[] | string;
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  disable?: boolean;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string; args?: Record<string, string> };
  command?: string[] | string;
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: ComposeHealthcheck;
  volumes?: Array<string | { type: string; source?: string; target: string; read_only?: boolean }>;
  ports?: Array<string | { published: number | string; target: number }>;
  restart?: string;
  stop_grace_period?: string;
  read_only?: boolean;
  deploy?: {
    replicas?: number;
    resources?: {
      limits?: { cpus?: string | number; memory?: string };
      reservations?: { cpus?: string | number; memory?: string };
    };
  };
}

export interface ComposeConfig {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * `docker-compose -f … config`: the files merged, interpolated and validated by Compose itself,
 * exactly as `up` would see them. Runs with a clean environment so a developer's own variables
 * (POSTGRES_PASSWORD, …) cannot change the result.
 */
export function composeConfig(files: string[]): ComposeConfig {
  const bin = requireTool('docker-compose', COMPOSE_APT_PACKAGE);
  const args = files.flatMap((f) => ['-f', f]);
  const res = run(bin, [...args, 'config'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
  });
  return parse(res.stdout) as ComposeConfig;
}

/** A volume entry as { source, target, readOnly }, whichever syntax Compose printed. */
export function mounts(
  service: ComposeService,
): Array<{ source: string; target: string; readOnly: boolean }> {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') {
      return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
    }
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

/** "35s", "1m30s", "500ms" → milliseconds. */
export function durationMs(value: string | undefined): number {
  if (!value) return 0;
  let total = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s|us)/g)) {
    const n = Number(m[1]);
    const unit = m[2];
    total +=
      unit === 'h'
        ? n * 3_600_000
        : unit === 'm'
          ? n * 60_000
          : unit === 's'
            ? n * 1000
            : unit === 'ms'
              ? n
              : n / 1000;
  }
  return total;
}
