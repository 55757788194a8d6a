import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * JSON logger. Fields that could carry credentials are redacted as a second line of defence:
 * the code never passes a token, key or secret to the logger in the first place.
 */
export function createLogger(level = 'info', destination?: DestinationStream): Logger {
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
