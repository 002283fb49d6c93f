// Container health check (Dockerfile HEALTHCHECK and docker-compose): exits 0 when the service in
// this container answers GET /healthz (or the path given as the first argument) with a 2xx, else 1.
// Node's own fetch, because the slim runtime image has neither curl nor wget.
const path = process.argv[2] ?? '/healthz';
const port = process.env.PORT;
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS ?? 3000);

if (!port) {
  console.error('healthcheck: PORT is not set');
  process.exit(1);
}

// The service listens on HOST (0.0.0.0 by default); a wildcard address is reached over loopback.
const host = process.env.HOST;
const target =
  !host || host === '0.0.0.0' || host === '::'
    ? '127.0.0.1'
    : host.includes(':')
      ? `[${host}]`
      : host;

try {
  const res = await fetch(`http://${target}:${port}${path}`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) console.error(`healthcheck: ${path} answered ${res.status}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${path} unreachable: ${err?.cause?.code ?? err?.name ?? err}`);
  process.exit(1);
}
