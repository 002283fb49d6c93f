import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A port the OS says is free right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Everything the process wrote, for assertions and for failure messages. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | NodeJS.Signals>;
  /** SIGTERM, then SIGKILL after the grace period. */
  stop(graceMs?: number): Promise<number | NodeJS.Signals>;
  kill(): Promise<number | NodeJS.Signals>;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): ServiceProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  let size = 0;
  const keep = (b: Buffer) => {
    // Keep the tail only: a long soak must not hold its whole log in memory.
    chunks.push(b.toString('utf8'));
    size += b.length;
    while (size > 4_000_000 && chunks.length > 1) size -= (chunks.shift() as string).length;
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal as NodeJS.Signals)));
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    output: () => chunks.join(''),
    exited,
    async stop(graceMs = 10_000) {
      if (alive()) child.kill('SIGTERM');
      const timer = setTimeout(() => alive() && child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (alive()) child.kill('SIGKILL');
      return exited;
    },
  };
}

/** Polls a URL until it answers 200. */
export async function waitForHttp(
  url: string,
  timeoutMs = 20_000,
  proc?: ServiceProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // Bounded: whatever holds the port may accept and never answer.
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet, or not answering
    }
    if (proc && proc.child.exitCode !== null) {
      throw new Error(`${proc.name} exited before ${url} answered:\n${proc.output()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${url} did not answer 200 within ${timeoutMs} ms${proc ? `:\n${proc.output()}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
