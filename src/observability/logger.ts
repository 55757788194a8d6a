import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';
import type pinoPretty from 'pino-pretty';

export type { Logger };

/** `json`: one JSON object per line, for collectors. `pretty`: coloured, one readable line per event, for a terminal. */
export type LogFormat = 'json' | 'pretty';

/**
 * JSON logger. Fields that could carry credentials are redacted as a second line of defence:
 * the code never passes a token, key or secret to the logger in the first place.
 */
export function createLogger(level = 'info', destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  if (format === 'pretty') {
    // Loaded only for this format: a sidecar logging JSON does not carry it in memory.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty;
    // In the same thread and synchronous, so the last lines before an exit are not lost.
    destination = pretty({
      destination: destination ?? 1,
      sync: true,
      colorize: destination === undefined && process.stdout.isTTY,
      translateTime: 'SYS:standard',
      ignore: 'name',
    });
  }
  return pino(
    {
      name: 'tollgate',
      level,
      base: undefined,
      redact: {
        paths: ['token', 'authorization', 'secret', 'key', '*.token', '*.authorization', '*.secret', '*.key'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A logger that drops everything, for tests and CLI commands that do not log. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
