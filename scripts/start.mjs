// `npm start`: the whole stack on one base URL, from a fresh checkout. Installs pnpm and the
// dependencies when missing, builds, migrates (creating the database if needed), then runs the
// four services and the edge as child processes until Ctrl-C / SIGTERM. The edge is the compose
// stack's nginx.conf when nginx is installed (EDGE=auto, the default), else the node edge;
// EDGE=nginx or EDGE=node insists on one.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ensureDependencies, envWithTools, pnpm, root } from './bootstrap.mjs';

const env = envWithTools({
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/scanner',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  FILE_STORAGE_PATH: join(root, '.data', 'files'),
  ...process.env,
});
const edgePort = Number(env.EDGE_PORT ?? 8000);
const defaultPorts = {
  'upload-gateway': 8001,
  'status-query': 8002,
  'scanner-worker': 8003,
  janitor: 8004,
};
const ports = Object.fromEntries(
  Object.entries(defaultPorts).map(([name, port]) => [
    name,
    Number(env[`${name.toUpperCase().replace('-', '_')}_PORT`] ?? port),
  ]),
);
const edgeWanted = env.EDGE ?? 'auto';
if (!['auto', 'nginx', 'node'].includes(edgeWanted)) {
  console.error(`npm start: EDGE must be auto, nginx or node, not "${edgeWanted}"`);
  process.exit(1);
}

function reachable(url, defaultPort) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({
      host: u.hostname || '127.0.0.1',
      port: Number(u.port || defaultPort),
    });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function checkDependencies() {
  const problems = [];
  if (!(await reachable(env.DATABASE_URL, 5432))) {
    problems.push(
      `PostgreSQL is not reachable at ${new URL(env.DATABASE_URL).host}. Start it, e.g.:\n` +
        '    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n' +
        '  or: docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15\n' +
        '  or point DATABASE_URL at a running server.',
    );
  }
  if (!(await reachable(env.REDIS_URL, 6379))) {
    problems.push(
      `Redis is not reachable at ${new URL(env.REDIS_URL).host}. Start it, e.g.:\n` +
        '    redis-server --daemonize yes --bind 127.0.0.1 --port 6379\n' +
        '  or: docker run -d -p 6379:6379 redis:7\n' +
        '  or point REDIS_URL at a running server.',
    );
  }
  if (problems.length > 0) {
    console.error(`npm start: cannot start the stack.\n\n${problems.join('\n\n')}`);
    process.exit(1);
  }
}

await checkDependencies();
ensureDependencies();
pnpm(['turbo', 'run', 'build', '--output-logs=errors-only']);
pnpm(['--filter', '@scanner/db', 'exec', 'node', 'dist/migrate-cli.js', '--create-database'], {
  env,
});
mkdirSync(env.FILE_STORAGE_PATH, { recursive: true });

// Each running child and how to stop it gracefully.
const children = [];
let stopping = false;

function watch(name, child, stop) {
  child.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`npm start: ${name} exited (${code ?? signal}); stopping the stack`);
    void stopAll(1);
  });
  children.push(stop);
}

function run(name, cwd, extraEnv) {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: join(root, cwd),
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  watch(
    name,
    child,
    () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  );
}

// nginx is a child only once it serves (watch); a stop signal while it is still coming up aborts
// that, and stopAll waits until startLocalEdge has stopped it again.
const edgeStartup = new AbortController();
let edgeStarting;

async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  edgeStartup.abort();
  await Promise.all([...children.map((stop) => stop()), edgeStarting?.catch(() => {})]);
  process.exit(exitCode);
}

async function startEdge() {
  const nginxModule = await import('../infra/edge/dist/nginx.js');
  const nginxBinary = edgeWanted === 'node' ? null : nginxModule.findNginx(env.PATH);
  if (edgeWanted === 'nginx' && !nginxBinary) {
    console.error('npm start: EDGE=nginx but nginx is not installed (apt-get install -y nginx)');
    return stopAll(1);
  }
  if (!nginxBinary) {
    run('edge', 'infra/edge', {
      PORT: String(edgePort),
      UPLOAD_GATEWAY_URL: `http://127.0.0.1:${ports['upload-gateway']}`,
      STATUS_QUERY_URL: `http://127.0.0.1:${ports['status-query']}`,
      JANITOR_URL: `http://127.0.0.1:${ports.janitor}`,
    });
    return 'node (infra/edge)';
  }
  // The compose edge with local addresses; its per-request JSON lines go to EDGE_ACCESS_LOG (a
  // file) when set. Its errors share this terminal.
  let edge;
  try {
    edgeStarting = nginxModule.startLocalEdge({
      signal: edgeStartup.signal,
      binary: nginxBinary,
      output: 'inherit',
      upstreams: {
        upload_gateway: `127.0.0.1:${ports['upload-gateway']}`,
        status_query: `127.0.0.1:${ports['status-query']}`,
        janitor: `127.0.0.1:${ports.janitor}`,
      },
      host: env.HOST,
      port: edgePort,
      accessLog: env.EDGE_ACCESS_LOG || null,
    });
    edge = await edgeStarting;
  } catch (err) {
    if (stopping) return 'stopped while starting';
    console.error(
      `npm start: edge (nginx) did not start (${err.message.split('\n')[0].replace(/:$/, '')}); stopping the stack`,
    );
    return stopAll(1);
  }
  watch('edge (nginx)', edge.nginx.child, edge.stop);
  return `nginx (${nginxBinary}, infra/nginx/nginx.conf)`;
}

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void stopAll(0));

for (const [name, port] of Object.entries(ports)) {
  run(name, `services/${name}`, { PORT: String(port) });
}
const edgeKind = await startEdge();

const base = `http://127.0.0.1:${edgePort}`;

async function answers200(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!stopping && Date.now() < deadline) {
    try {
      // Bounded: something else on the port may accept and never answer.
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return true;
    } catch {
      // not listening yet, or not answering
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// "Up" means every service says it is ready (its dependencies reachable) and the edge answers:
// the edge's /health alone is status-query's, and the gateway may still be starting.
const probes = [
  ...Object.entries(ports).map(([name, port]) => [name, `http://127.0.0.1:${port}/readyz`]),
  ['edge', `${base}/edge/healthz`],
];
const ready = await Promise.all(
  probes.map(async ([name, url]) => [name, await answers200(url, 60_000)]),
);
const notReady = ready.filter(([, ok]) => !ok).map(([name]) => name);
if (stopping) {
  // a child exited during start-up; stopAll reports it
} else if (notReady.length > 0) {
  console.error(
    `\nnpm start: not ready after 60 s: ${notReady.join(', ')} (their logs above say why); ` +
      `still running, see ${base}/health`,
  );
} else {
  console.error(
    `\nscanner is up on ${base} (edge: ${edgeKind})\n` +
      `  upload:  curl -F "file=@README.md" ${base}/api/v1/files\n` +
      `  status:  curl ${base}/api/v1/files/<job_id>\n` +
      `  health:  curl ${base}/health\n` +
      (env.ADMIN_TOKEN ? '' : '  (POST /admin/cleanup is off: set ADMIN_TOKEN to enable it)\n'),
  );
}
