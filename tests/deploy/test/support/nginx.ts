import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NGINX_CONF, nginxUpstreams } from './routes.js';
import { requireTool } from './tools.js';

export const NGINX_APT_PACKAGE = 'nginx';

export function nginxBinary(): string {
  return requireTool('nginx', NGINX_APT_PACKAGE, ['/usr/sbin', '/usr/local/sbin']);
}

export interface LocalNginxConf {
  dir: string;
  file: string;
  cleanup(): void;
}

/**
 * The edge's nginx.conf made runnable here, changing only addresses: each upstream's
 * `server host:port` points at a local port (compose service names do not resolve outside Docker;
 * nginx resolves them even for `nginx -t`), the listener moves to a local port, and temp paths and
 * logs go to a scratch folder so no root-owned default path is needed. Everything else is the file
 * as shipped.
 */
export function localNginxConf(
  upstreamPorts: Record<string, number>,
  listenPort: number,
): LocalNginxConf {
  const original = readFileSync(NGINX_CONF, 'utf8');
  const upstreams = nginxUpstreams(original);
  const missing = Object.keys(upstreamPorts).filter((u) => !upstreams.has(u));
  if (missing.length > 0) throw new Error(`nginx.conf has no upstream ${missing.join(', ')}`);

  let conf = original;
  for (const [name, servers] of upstreams) {
    const port = upstreamPorts[name];
    if (port === undefined) throw new Error(`no local port given for upstream ${name}`);
    for (const server of servers) {
      conf = conf.replace(`server ${server};`, `server 127.0.0.1:${port};`);
    }
  }
  const listens = conf.match(/listen\s+8000\b/g) ?? [];
  if (listens.length !== 1) throw new Error(`expected one "listen 8000", found ${listens.length}`);
  conf = conf.replace(/listen\s+8000\b/, `listen 127.0.0.1:${listenPort}`);

  const dir = mkdtempSync(join(tmpdir(), 'scanner-edge-'));
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
  for (const t of temp) mkdirSync(join(dir, t));
  conf = conf.replace(
    /^http\s*\{/m,
    `http {\n${temp.map((t) => `    ${t}_temp_path ${join(dir, t)};`).join('\n')}\n`,
  );
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  return { dir, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function globals(dir: string): string {
  return `pid ${join(dir, 'nginx.pid')}; daemon off;`;
}

/** `nginx -t` on the file; returns nginx's report, throws when the test fails. */
export function nginxTest(conf: LocalNginxConf): string {
  const logFile = join(conf.dir, 'nginx-t.log');
  const fd = openSync(logFile, 'w');
  try {
    const res = spawnSync(
      nginxBinary(),
      ['-t', '-e', 'stderr', '-p', conf.dir, '-c', conf.file, '-g', globals(conf.dir)],
      { stdio: ['ignore', fd, fd] },
    );
    const report = readFileSync(logFile, 'utf8');
    if (res.status !== 0) throw new Error(`nginx -t failed (exit ${res.status}):\n${report}`);
    return report;
  } finally {
    closeSync(fd);
  }
}

export interface RunningNginx {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function startNginx(conf: LocalNginxConf): RunningNginx {
  // A file, not a pipe: node's stdio pipes are sockets, which nginx cannot reopen as /dev/stdout
  // (the access_log target, as in the official image).
  const logFile = join(conf.dir, 'output.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    nginxBinary(),
    ['-e', 'stderr', '-p', conf.dir, '-c', conf.file, '-g', globals(conf.dir)],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => readFileSync(logFile, 'utf8'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
