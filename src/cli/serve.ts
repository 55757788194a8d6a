import { parseArgs } from 'node:util';
import { EMBEDDED_CONFIG_PATH } from '../config/load.js';
import { Tollgate } from '../server/app.js';
import { EXIT_OK, type CliIo } from './io.js';
import { unsupportedNodeWarning } from '../node-support.js';

/** The least time a stalled stdout is given to take the last log lines at exit. */
const MIN_LOG_FLUSH_MS = 200;

export const OPTIONS = { config: { type: 'string' } } as const;

/**
 * `tollgate serve [--config FILE]`: runs until SIGTERM/SIGINT (drain, then exit 0). SIGHUP reloads the
 * config. Without --config it runs the embedded development config, and says so.
 */
export async function runServe(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const configPath = values.config ?? EMBEDDED_CONFIG_PATH;
  const nodeWarning = unsupportedNodeWarning(process.version);
  if (nodeWarning) io.stderr(nodeWarning);
  // Listen for SIGTERM/SIGINT before starting: one that arrives as the start line is written (as soon
  // as a supervisor sees it) must drain, not kill the process with the default action.
  let stop = () => {};
  const stopRequested = new Promise<void>((resolve) => {
    stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  let app: Tollgate;
  try {
    app = await Tollgate.start({ configPath });
  } catch (err) {
    // Start closed what it had started; with the handlers gone, a signal has its default effect again.
    stop();
    throw err;
  }
  if (!values.config) {
    io.stderr('tollgate: running the embedded development config (examples/default): its keys are public; never use it in production');
  }
  process.on('SIGHUP', () => void app.reload('signal'));
  await stopRequested;
  const stopBy = Date.now() + app.config.shutdown.drainSeconds * 1000;
  await app.stop();
  // Everything is closed; only log lines a stalled stdout has not taken can keep the process up. They
  // get what is left of drainSeconds (at least a moment), then the exit goes ahead without them.
  setTimeout(() => process.exit(EXIT_OK), Math.max(stopBy - Date.now(), MIN_LOG_FLUSH_MS)).unref();
  return EXIT_OK;
}
