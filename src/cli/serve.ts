import { parseArgs } from 'node:util';
import { EMBEDDED_CONFIG_PATH } from '../config/load.js';
import { Tollgate } from '../server/app.js';
import { EXIT_OK, type CliIo } from './io.js';

export const OPTIONS = { config: { type: 'string' } } as const;

/**
 * `tollgate serve [--config FILE]`: runs until SIGTERM/SIGINT (drain, then exit 0). SIGHUP reloads the
 * config. Without --config it runs the embedded development config, and says so.
 */
export async function runServe(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const configPath = values.config ?? EMBEDDED_CONFIG_PATH;
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
  process.on('SIGHUP', () => void app.reload());
  await stopRequested;
  await app.stop();
  return EXIT_OK;
}
