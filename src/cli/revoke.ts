import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseRfc3339, RFC3339_HINT } from '../admin/time.js';
import { EXIT_DENIED, EXIT_OK, EXIT_USAGE, UsageError, type CliIo } from './io.js';
import { DEFAULT_ADMIN_URL, USAGE } from './usage.js';

/** The server refused or could not be reached. */
const EXIT_REFUSED = EXIT_DENIED;
const REQUEST_TIMEOUT_MS = 10_000;
const NO_REASON = 'no reason given (tollgate revoke)';

export const OPTIONS = {
  jti: { type: 'string' },
  sid: { type: 'string' },
  sub: { type: 'string' },
  reason: { type: 'string' },
  'not-before': { type: 'string' },
  'expires-at': { type: 'string' },
  at: { type: 'string' },
  refresh: { type: 'boolean', default: false },
  remove: { type: 'boolean', default: false },
  list: { type: 'boolean', default: false },
  'admin-url': { type: 'string', default: DEFAULT_ADMIN_URL },
  'admin-token-file': { type: 'string' },
  'admin-token-env': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

interface Request {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: Record<string, string>;
}

/**
 * `tollgate revoke`: a client of the admin API (POST/DELETE/GET /admin/v1/revocations, POST
 * /admin/v1/subjects/{sub}/refresh). Exit 0 when the server accepted, 1 when it refused or could not
 * be reached, 2 for bad input. The server's answer is printed as JSON.
 */
export async function runRevoke(argv: string[], io: CliIo): Promise<number> {
  let request: Request;
  let adminUrl: URL;
  let secret: string;
  try {
    const { values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: OPTIONS });
    if (values.help) {
      io.stdout(USAGE.revoke);
      return EXIT_OK;
    }
    request = buildRequest(values);
    adminUrl = parseAdminUrl(values['admin-url']);
    secret = readSecret(values['admin-token-file'], values['admin-token-env']);
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`tollgate revoke: ${(err as Error).message}\n\n${USAGE.revoke}`);
      return EXIT_USAGE;
    }
    throw err;
  }
  return send(request, adminUrl, secret, io);
}

interface Values {
  jti?: string;
  sid?: string;
  sub?: string;
  reason?: string;
  'not-before'?: string;
  'expires-at'?: string;
  at?: string;
  refresh: boolean;
  remove: boolean;
  list: boolean;
}

function buildRequest(values: Values): Request {
  const modes = (['refresh', 'remove', 'list'] as const).filter((mode) => values[mode]);
  if (modes.length > 1) throw new UsageError(`--${modes[0]} and --${modes[1]} cannot be combined`);
  const mode = modes[0] ?? 'revoke';
  if (values.jti !== undefined && values.sid !== undefined) throw new UsageError('give --jti or --sid, not both');
  const time = (option: 'not-before' | 'expires-at' | 'at'): string | undefined => {
    const text = values[option];
    if (text !== undefined && parseRfc3339(text) === undefined) throw new UsageError(`--${option}: ${RFC3339_HINT}`);
    return text;
  };
  const notBefore = time('not-before');
  const expiresAt = time('expires-at');
  const at = time('at');
  const only = (allowed: string[]): void => {
    for (const option of ['not-before', 'expires-at', 'at', 'reason'] as const) {
      if (values[option] !== undefined && !allowed.includes(option)) {
        throw new UsageError(`--${option} does not apply to ${mode === 'revoke' ? 'a revocation' : `--${mode}`}`);
      }
    }
  };

  switch (mode) {
    case 'list':
      only([]);
      if (values.jti ?? values.sid ?? values.sub) throw new UsageError('--list takes no --jti, --sid or --sub');
      return { method: 'GET', path: '/admin/v1/revocations' };
    case 'refresh':
      only(['at', 'reason']);
      if (values.sub === undefined) throw new UsageError('--refresh needs --sub SUBJECT');
      if (values.jti !== undefined || values.sid !== undefined) throw new UsageError('--refresh applies to a --sub only');
      return {
        method: 'POST',
        path: `/admin/v1/subjects/${encodeURIComponent(values.sub)}/refresh`,
        body: compact({ at, reason: values.reason }),
      };
    case 'remove': {
      only([]);
      const [type, value] = target(values);
      return { method: 'DELETE', path: `/admin/v1/revocations/${type}/${encodeURIComponent(value)}` };
    }
    case 'revoke': {
      only(['not-before', 'expires-at', 'reason']);
      const [type, value] = target(values);
      // The admin API keeps a reason with every revocation (and in the audit log); say that none was given.
      const reason = values.reason?.trim() || NO_REASON;
      if (notBefore !== undefined && type !== 'sub') {
        throw new UsageError('--not-before applies to a --sub revocation (without --jti or --sid)');
      }
      return {
        method: 'POST',
        path: '/admin/v1/revocations',
        body: compact({ type, value, reason, notBefore, expiresAt, sub: type === 'sub' ? undefined : values.sub }),
      };
    }
  }
}

/** The most specific identifier given is what gets revoked. */
function target(values: Values): ['jti' | 'sid' | 'sub', string] {
  if (values.jti !== undefined) return ['jti', nonEmpty('--jti', values.jti)];
  if (values.sid !== undefined) return ['sid', nonEmpty('--sid', values.sid)];
  if (values.sub !== undefined) return ['sub', nonEmpty('--sub', values.sub)];
  throw new UsageError('give --jti ID, --sid ID or --sub SUBJECT');
}

function nonEmpty(option: string, value: string): string {
  if (value === '') throw new UsageError(`${option}: must not be empty`);
  return value;
}

function compact(fields: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) out[name] = value;
  return out;
}

function parseAdminUrl(text: string | undefined): URL {
  let url: URL;
  try {
    url = new URL(text ?? DEFAULT_ADMIN_URL);
  } catch {
    throw new UsageError(`--admin-url: not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--admin-url: must be http:// or https://');
  return url;
}

function readSecret(file: string | undefined, envName: string | undefined): string {
  if (file !== undefined && envName !== undefined) throw new UsageError('give --admin-token-file or --admin-token-env, not both');
  let secret: string;
  if (file !== undefined) {
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`--admin-token-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (secret === '') throw new UsageError(`--admin-token-file: ${file} is empty`);
    return secret;
  }
  if (envName !== undefined) {
    secret = (process.env[envName] ?? '').trim();
    if (secret === '') throw new UsageError(`--admin-token-env: environment variable ${envName} is not set`);
    return secret;
  }
  throw new UsageError('the admin secret is required: --admin-token-file FILE or --admin-token-env NAME');
}

async function send(request: Request, base: URL, secret: string, io: CliIo): Promise<number> {
  const url = new URL(base.pathname.replace(/\/$/, '') + request.path, base);
  let response: Response;
  try {
    response = await fetch(url, {
      method: request.method,
      headers: {
        authorization: `Bearer ${secret}`,
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    io.stderr(`tollgate revoke: cannot reach the admin API at ${url.origin}: ${cause}`);
    return EXIT_REFUSED;
  }
  const text = await response.text();
  if (response.ok) {
    io.stdout(response.status === 204 ? JSON.stringify({ removed: true }) : prettyJson(text));
    return EXIT_OK;
  }
  io.stderr(`tollgate revoke: the server refused (HTTP ${response.status}): ${serverMessage(text)}`);
  return EXIT_REFUSED;
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON: show it as is
  }
  return text.slice(0, 500) || '(no body)';
}
