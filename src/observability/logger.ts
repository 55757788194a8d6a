import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';
import type pinoPretty from 'pino-pretty';

export type { Logger };

/** `json`: one JSON object per line, for collectors. `pretty`: coloured, one readable line per event, for a terminal. */
export type LogFormat = 'json' | 'pretty';

/**
 * What the log may hold that stdout has not taken yet. A reader that falls behind (a stalled log
 * collector, a flood of client-triggered lines) makes the buffer grow; past this, lines are dropped
 * and counted instead of queued in memory without bound.
 */
const MAX_BUFFERED_LOG_BYTES = 4 * 1024 * 1024;

/**
 * The logger. Fields that could carry credentials are redacted as a second line of defence: the code
 * never passes a token, key or secret to the logger in the first place.
 */
export function createLogger(
  level = 'info',
  destination?: DestinationStream,
  format: LogFormat = 'json',
  /** Called for each line dropped because stdout fell behind (stdout only). */
  onDropped?: () => void,
): Logger {
  const toStdout = destination === undefined;
  if (toStdout) {
    // Synchronous, so the last lines before an exit are written; bounded, so a slow reader costs lines, not memory.
    const stdout = pino.destination({ dest: 1, sync: true, maxLength: MAX_BUFFERED_LOG_BYTES });
    if (onDropped) stdout.on('drop', onDropped);
    destination = stdout;
  }
  if (format === 'pretty') {
    // Loaded only for this format: a sidecar logging JSON does not carry it in memory.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty;
    // In the same thread and synchronous, so the last lines before an exit are not lost; one line per
    // event, its fields inline, as the docs promise a person watching.
    destination = pretty({
      destination,
      sync: true,
      singleLine: true,
      colorize: toStdout && process.stdout.isTTY,
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
