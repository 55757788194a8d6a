#!/usr/bin/env node
import { ConfigError } from './util/config-error.js';
import { EXIT_OK, EXIT_USAGE, UsageError, processIo, type CliIo } from './cli/io.js';
import { USAGE, topLevelUsage, type CommandName } from './cli/usage.js';
import { disablePretenuring } from './server/gc-tuning.js';
import { VERSION } from './version.js';

type Command = (argv: string[], io: CliIo) => Promise<number>;

/** Each command lives in its own module, loaded only when asked for. */
const COMMANDS: Record<CommandName, () => Promise<Command>> = {
  serve: async () => (await import('./cli/serve.js')).runServe,
  check: async () => (await import('./cli/check.js')).runCheck,
  revoke: async () => (await import('./cli/revoke.js')).runRevoke,
  keys: async () => (await import('./cli/keys.js')).runKeys,
  token: async () => (await import('./cli/token.js')).runToken,
  test: async () => (await import('./cli/test.js')).runTest,
};

const isHelp = (arg: string): boolean => arg === '--help' || arg === '-h';
const isCommand = (name: string): name is CommandName => Object.hasOwn(COMMANDS, name);

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || isHelp(name) || name === 'help') {
    processIo.stdout(topLevelUsage(VERSION));
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    processIo.stdout(VERSION);
    return EXIT_OK;
  }
  if (!isCommand(name)) {
    processIo.stderr(`tollgate: unknown command ${JSON.stringify(name)}\n\n${topLevelUsage(VERSION)}`);
    return EXIT_USAGE;
  }
  // `tollgate token mint --help`, `tollgate keys --help`: help wherever it is asked for.
  if (rest.some(isHelp)) {
    processIo.stdout(USAGE[name]);
    return EXIT_OK;
  }
  // Before serve's modules load: a pretenuring decision V8 has made stays (src/server/gc-tuning.ts).
  if (name === 'serve') disablePretenuring();
  try {
    return await (
      await COMMANDS[name]()
    )(rest, processIo);
  } catch (err) {
    if (err instanceof ConfigError) {
      processIo.stderr(err.message);
      return EXIT_USAGE;
    }
    // parseArgs reports unknown or malformed options with ERR_PARSE_ARGS_* codes.
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      processIo.stderr(`tollgate ${name}: ${(err as Error).message}\n\n${USAGE[name]}`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    processIo.stderr(`tollgate: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
