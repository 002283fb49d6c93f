import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.js';
import { captureLogLines } from '../src/testing.js';

describe('createLogger', () => {
  it('writes JSON lines with the service, a level name, an ISO time, and errors under err', () => {
    const { lines, destination } = captureLogLines();
    const log = createLogger({ service: 'svc', destination });
    log.child({ jobId: 'j1' }).error({ err: new Error('boom') }, 'failed');
    const line = lines[0] as Record<string, unknown>;
    expect(line).toMatchObject({ service: 'svc', level: 'error', jobId: 'j1', msg: 'failed' });
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(line.err).toMatchObject({ type: 'Error', message: 'boom' });
    expect((line.err as { stack: string }).stack).toContain('boom');
  });

  it('redacts credentials wherever request headers are logged', () => {
    const { lines, destination } = captureLogLines();
    const log = createLogger({ service: 'svc', destination });
    log.info(
      { req: { headers: { authorization: 'Bearer secret', cookie: 'c=1', accept: '*/*' } } },
      'request',
    );
    expect(lines[0]?.req).toEqual({
      headers: { authorization: '[redacted]', cookie: '[redacted]', accept: '*/*' },
    });
  });

  it('honours the level', () => {
    const { lines, destination } = captureLogLines();
    const log = createLogger({ service: 'svc', level: 'warn', destination });
    log.info('hidden');
    log.warn('shown');
    expect(lines.map((l) => l.msg)).toEqual(['shown']);
  });
});
