#!/usr/bin/env node
import { ConfigError } from './util/config-error.js';
import { EXIT_USAGE, UsageError, processIo, type CliIo } from './cli/io.js';

type Command = (argv: string[], io: CliIo) => Promise<number>;

/** Each command lives in its own module, loaded only when asked for. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: { summary: 'serve [--config FILE]            run the ext_authz server', load: async () => (await import('./cli/serve.js')).runServe },
  check: { summary: 'check --config FILE --method M --path P [--token T | --claims JSON] [--principal ID]   explain a decision', load: async () => (await import('./cli/check.js')).runCheck },
  test: { summary: 'test [--config FILE] [--min-coverage N] [--junit FILE] CASES.yaml...   run policy test cases, report rule coverage', load: async () => (await import('./cli/test.js')).runTest },
  revoke: { summary: 'revoke --sub|--jti|--sid VALUE --admin-url URL --admin-token-file FILE   revoke through the admin API', load: async () => (await import('./cli/revoke.js')).runRevoke },
  keys: { summary: 'keys generate --alg ES256 --out DIR | keys rotate --dir DIR   make a local signing key and JWKS; rotate internalTokens keys', load: async () => (await import('./cli/keys.js')).runKeys },
  token: { summary: 'token mint --key FILE --sub S [--claim k=v] [--ttl 5m]   sign a local test token', load: async () => (await import('./cli/token.js')).runToken },
};

function usage(): string {
  return ['usage: tollgate <command> [options]', '', ...Object.values(COMMANDS).map((c) => `  tollgate ${c.summary}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    processIo.stdout(usage());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    processIo.stderr(`tollgate: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await (await command.load())(rest, processIo);
  } catch (err) {
    if (err instanceof ConfigError) {
      processIo.stderr(err.message);
      return EXIT_USAGE;
    }
    // parseArgs reports unknown or malformed options with ERR_PARSE_ARGS_* codes.
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      processIo.stderr(`tollgate ${name}: ${(err as Error).message}`);
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
