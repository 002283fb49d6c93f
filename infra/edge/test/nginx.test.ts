import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from '@scanner/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  findNginx,
  type LocalNginxConf,
  localNginxConf,
  NGINX_CONF,
  nginxTest,
  nginxUpstreams,
  startLocalEdge,
  startNginx,
  waitUntilServing,
} from '../src/nginx.js';

const LOCAL = {
  upload_gateway: '127.0.0.1:18001',
  status_query: '127.0.0.1:18002',
  janitor: '127.0.0.1:18004',
};

const made: LocalNginxConf[] = [];
const local = (opts: Partial<Parameters<typeof localNginxConf>[0]> = {}, source?: string) => {
  const conf = localNginxConf({ upstreams: LOCAL, port: 18000, ...opts }, source);
  made.push(conf);
  return { conf, text: readFileSync(conf.file, 'utf8') };
};
afterAll(() => {
  for (const conf of made) conf.cleanup();
});

function binary(): string {
  const found = findNginx();
  if (!found) throw new Error('nginx is not installed: apt-get install -y nginx');
  return found;
}

describe('localNginxConf', () => {
  it('points every upstream at its local address and nothing else at a compose name', () => {
    const { text } = local();
    expect(nginxUpstreams(text)).toEqual(
      new Map([
        ['upload_gateway', ['127.0.0.1:18001']],
        ['status_query', ['127.0.0.1:18002']],
        ['janitor', ['127.0.0.1:18004']],
      ]),
    );
    expect(text).not.toMatch(/upload-gateway:|status-query:|janitor:8004/);
  });

  it('changes only addresses, temp paths and the access log: routes are the file as shipped', () => {
    const { text } = local();
    const locations = (conf: string) =>
      [...conf.matchAll(/location[^{]*\{[^}]*\}/g)].map((m) => m[0]);
    expect(locations(text)).toEqual(locations(readFileSync(NGINX_CONF, 'utf8')));
  });

  it('listens on all addresses by default, on one when given a host', () => {
    expect(local().text).toMatch(/^\s*listen 18000 default_server;/m);
    expect(local({ host: '127.0.0.1', port: 18010 }).text).toMatch(
      /^\s*listen 127\.0\.0\.1:18010 default_server;/m,
    );
    expect(local({ host: '::1', port: 18011 }).text).toMatch(
      /^\s*listen \[::1\]:18011 default_server;/m,
    );
  });

  it('logs no line per request unless asked, then to the given file', () => {
    expect(local().text).toMatch(/access_log off;/);
    expect(local().text).not.toMatch(/\/dev\/stdout/);
    expect(local({ accessLog: '/tmp/edge.log' }).text).toMatch(
      /access_log \/tmp\/edge\.log edge_json;/,
    );
  });

  it('keeps temp files in its own scratch folder, removed by cleanup', () => {
    const { conf, text } = local();
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
      expect(text).toContain(`${t}_temp_path ${join(conf.dir, t)};`);
      expect(existsSync(join(conf.dir, t))).toBe(true);
    }
    conf.cleanup();
    expect(existsSync(conf.dir)).toBe(false);
  });

  it('runs the workers as the user who started it when that is root (else nginx warns)', () => {
    expect(local().text.startsWith('user root;\n')).toBe(process.getuid?.() === 0);
  });

  it('refuses a missing or unknown upstream, and a file whose listen or log it cannot find', () => {
    const { janitor: _, ...partial } = LOCAL;
    expect(() => localNginxConf({ upstreams: partial, port: 1 })).toThrow(/upstream janitor/);
    expect(() =>
      localNginxConf({ upstreams: { ...LOCAL, extra: '127.0.0.1:1' }, port: 1 }),
    ).toThrow(/no upstream extra/);
    const dir = mkdtempSync(join(tmpdir(), 'nginx-conf-'));
    try {
      const source = join(dir, 'nginx.conf');
      writeFileSync(source, readFileSync(NGINX_CONF, 'utf8').replace('listen 8000', 'listen 80'));
      expect(() => localNginxConf({ upstreams: LOCAL, port: 1 }, source)).toThrow(/listen 8000/);
      writeFileSync(source, readFileSync(NGINX_CONF, 'utf8').replace('/dev/stdout', '/dev/null'));
      expect(() => localNginxConf({ upstreams: LOCAL, port: 1 }, source)).toThrow(/access_log/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('startNginx', () => {
  it('passes `nginx -t`, serves, names its workers, and stops all of them', async () => {
    const port = await freePort();
    const { conf } = local({ host: '127.0.0.1', port });
    expect(nginxTest(binary(), conf)).toMatch(/test is successful/);
    const nginx = startNginx(binary(), conf);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/edge/healthz`, 10_000);
      const pids = nginx.processIds();
      expect(pids[0]).toBe(nginx.child.pid);
      // `worker_processes auto`: a master and at least one worker.
      expect(pids.length).toBeGreaterThan(1);
      await nginx.stop();
      for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect(nginx.processIds()).toEqual([]);
    } finally {
      await nginx.stop();
    }
  });

  it('waitUntilServing names what nginx said when it exits first (its port taken)', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as AddressInfo).port;
    const { conf } = local({ host: '127.0.0.1', port });
    const nginx = startNginx(binary(), conf);
    try {
      await expect(waitUntilServing(nginx, `http://127.0.0.1:${port}`, 10_000)).rejects.toThrow(
        /nginx exited before serving[\s\S]*Address already in use/,
      );
    } finally {
      await nginx.stop();
      taken.close();
    }
  });

  it('startLocalEdge: serving at its URL; stop ends nginx and removes the scratch folder', async () => {
    const port = await freePort();
    const edge = await startLocalEdge({ upstreams: LOCAL, host: '127.0.0.1', port });
    try {
      expect(edge.url).toBe(`http://127.0.0.1:${port}`);
      expect((await fetch(`${edge.url}/edge/healthz`)).status).toBe(200);
      expect(existsSync(edge.conf.dir)).toBe(true);
    } finally {
      await edge.stop();
    }
    expect(edge.nginx.processIds()).toEqual([]);
    expect(existsSync(edge.conf.dir)).toBe(false);
  });

  it('startLocalEdge: rejects with what nginx said when it cannot serve', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as AddressInfo).port;
    try {
      await expect(startLocalEdge({ upstreams: LOCAL, host: '127.0.0.1', port })).rejects.toThrow(
        /Address already in use/,
      );
    } finally {
      taken.close();
    }
  });

  it('startLocalEdge: stopped while nginx is coming up, it stops nginx and rejects instead of serving', async () => {
    const port = await freePort();
    const aborted = new AbortController();
    aborted.abort();
    await expect(
      startLocalEdge({ upstreams: LOCAL, host: '127.0.0.1', port, signal: aborted.signal }),
    ).rejects.toThrow(/stopped before nginx was serving/);
    // nginx was stopped before the promise settled, and its scratch folder removed (other tests'
    // edges come and go meanwhile: only a folder whose file listens on this port is this one's).
    await expect(fetch(`http://127.0.0.1:${port}/edge/healthz`)).rejects.toThrow();
    const ours = readdirSync(tmpdir())
      .filter((name) => name.startsWith('scanner-edge-'))
      .filter((name) => {
        try {
          const conf = readFileSync(join(tmpdir(), name, 'nginx.conf'), 'utf8');
          return conf.includes(`listen 127.0.0.1:${port} `);
        } catch {
          return false;
        }
      });
    expect(ours).toEqual([]);
  });
});
