// The ceilings the HTTP scenarios are held against: bare `node:http` servers, in their own
// process like a service, doing only the unavoidable work of an upload. Prints `{"port":N}` once
// listening. Usage: `node ceiling-server.js stream|minimal|answer` with CEILING_* in the
// environment.
//   stream  — pipes the raw body through SHA-256 into a file on the volume, answers the digest.
//   minimal — per upload: hash the raw body, write it to a temp file, rename it to its content
//             address, one INSERT, one XADD; answers 202 with a job id.
//   answer  — reads the body and answers 200 with CEILING_ANSWER (a JSON object) and a new job id:
//             no parsing, lookup, insert or file. What a known upload costs the HTTP hops alone,
//             so no gateway behind the same edge can answer one faster.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import pg from 'pg';
import { createClient } from 'redis';

// The gateway runs with the same threadpool size.
process.env.UV_THREADPOOL_SIZE ??= '16';

const mode = process.argv[2];
const root = process.env.CEILING_STORAGE as string;
const tmp = join(root, '.tmp');
await mkdir(tmp, { recursive: true });

function answer(res: ServerResponse, status: number, body: unknown) {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

function tempPath() {
  return join(tmp, `${Date.now()}-${randomBytes(8).toString('hex')}.part`);
}

async function stream(req: IncomingMessage, res: ServerResponse) {
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(req, meter, createWriteStream(tempPath(), { flags: 'wx' }));
  answer(res, 202, { job_id: randomUUID(), sha256: hash.digest('hex'), file_size: bytes });
}

let minimal: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
if (mode === 'minimal') {
  const db = new pg.Pool({
    connectionString: process.env.CEILING_DATABASE_URL,
    max: Number(process.env.CEILING_POOL_MAX ?? 10),
  });
  const redis = createClient({ url: process.env.CEILING_REDIS_URL });
  await redis.connect();
  const stream = `${process.env.CEILING_REDIS_PREFIX}ceiling_jobs`;
  minimal = async (req, res) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) {
      hash.update(chunk);
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    const sha256 = hash.digest('hex');
    // Synchronous, as the gateway stores small content: for a 1 KiB file the thread pool's
    // hand-offs cost more than the system calls themselves.
    const temp = tempPath();
    writeFileSync(temp, body, { flag: 'wx' });
    const target = join(root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
    try {
      renameSync(temp, target);
    } catch {
      mkdirSync(dirname(target), { recursive: true });
      renameSync(temp, target);
    }
    const jobId = randomUUID();
    await db.query(
      'INSERT INTO bench_ceiling_uploads (job_id, sha256, size_bytes) VALUES ($1, $2, $3)',
      [jobId, sha256, body.length],
    );
    await redis.xAdd(stream, '*', { sha256, job_id: jobId });
    answer(res, 202, { job_id: jobId, status: 'pending', sha256, file_size: body.length });
  };
}

const canned = JSON.parse(process.env.CEILING_ANSWER ?? '{}') as Record<string, unknown>;
async function cannedAnswer(req: IncomingMessage, res: ServerResponse) {
  await finished(req.resume());
  answer(res, 200, { job_id: randomUUID(), ...canned });
}

const handle = { stream, minimal, answer: cannedAnswer }[mode ?? ''];
if (!handle) throw new Error('usage: ceiling-server.js stream|minimal|answer');

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    if (!res.headersSent) answer(res, 500, { detail: String(err) });
    else res.destroy();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === 'object' && address?.port })}\n`,
  );
});
process.once('SIGTERM', () => process.exit(0));
