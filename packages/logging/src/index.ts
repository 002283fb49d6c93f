import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerConfig {
  service: string;
  level?: LoggerOptions['level'];
  /** Where to write; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream;
}

/**
 * The one root logger of a service: JSON lines with `service` on every line, errors under `err`,
 * ISO timestamps, and credentials redacted wherever a request or its headers get logged.
 */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: config.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.err },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        'authorization',
      ],
      censor: '[redacted]',
    },
  };
  // biome-ignore lint/suspicious/noExplicitAny: pino's DestinationStream is a structural subset of a writable.
  return config.destination ? pino(options, config.destination as any) : pino(options);
}
