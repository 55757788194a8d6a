import type { IncomingMessage } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { Deps } from '../observability/deps.js';
import { LogLineLimiter } from '../observability/log-limiter.js';
import { sendEmpty, sendJson, type HttpHandler } from '../util/http-reply.js';
import {
  errorMessage,
  isRevocationType,
  RevocationInputError,
  RevocationOutcomeUnknownError,
  RevocationStoreUnavailableError,
  type RefreshMarker,
  type RevocationEntry,
  type RevocationStore,
} from '../revocation/index.js';
import type { AdminConfig } from '../config/admin.js';
import { loadAdminCredential, type AdminCredential } from './credential.js';
import { HttpError, readJsonBody } from './http.js';
import { parseBody, refreshBodySchema, revokeBodySchema } from './requests.js';
import { formatRfc3339 } from './time.js';
import { loggedText } from '../util/log-text.js';

export { MIN_SECRET_LENGTH } from './credential.js';

export type { HttpHandler };

export interface AdminHandlerOptions {
  store: RevocationStore;
  admin: AdminConfig;
  deps: Deps;
  /** Where `admin.tokenEnv` is looked up; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

interface Outcome {
  status: number;
  body?: unknown;
}

/** What one request did, for its audit line. Filled in as the request is understood. */
interface Audit {
  action: string;
  actor: string;
  remote: string;
  path: string;
  target?: Record<string, string>;
  reason?: string;
}

/**
 * The admin API under /admin/. Off (every request falls through) unless a credential is configured; the
 * secret is read once, here, and a configured but missing or empty one is a startup error. Every
 * request under /admin/, refused ones included, leaves one audit line: who (credential fingerprint),
 * from where, what, and the status, never the secret.
 */
export function createAdminHandler(options: AdminHandlerOptions): HttpHandler {
  const { store, deps } = options;
  const credential = loadAdminCredential(options.admin, options.env ?? process.env);
  const log = deps.logger.child({ component: 'admin' });
  if (credential === undefined) {
    log.info('admin API disabled: set admin.tokenFile or admin.tokenEnv to enable it');
    return async () => false;
  }

  const refusedLines = new LogLineLimiter(
    () => UNAUTHENTICATED_LINES_PER_SECOND,
    deps.clock,
    () => auditSkipped(deps.registry).inc(),
  );

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    if (url.pathname !== '/admin' && !url.pathname.startsWith('/admin/')) return false;
    const audit: Audit = {
      action: 'authenticate',
      actor: 'unauthenticated',
      remote: req.socket.remoteAddress ?? 'unknown',
      path: loggedText(url.pathname),
    };
    let status: number;
    let failure: string | undefined;
    try {
      authenticate(req, credential);
      audit.actor = credential.fingerprint;
      audit.action = 'unknown_route'; // until a route claims the request
      const outcome = await route(req, url.pathname, store, audit);
      status = outcome.status;
      if (outcome.body === undefined) sendEmpty(res, status);
      else sendJson(res, status, outcome.body);
    } catch (err) {
      const refusal = toHttpError(err);
      status = refusal.status;
      failure = refusal.message;
      if (status === 500) log.error({ err: errorMessage(err) }, 'admin: request failed');
      sendJson(res, status, { error: refusal.code, message: refusal.message, field: refusal.field }, refusal.headers);
    }
    // Every authenticated request is audited; unauthenticated ones are anyone's to send, so their
    // lines are capped like denial lines (the skipped ones counted, the next line says how many).
    const skipped = audit.actor === 'unauthenticated' ? refusedLines.admit() : 0;
    if (skipped !== null) {
      log.info(
        {
          audit: { ...audit, method: req.method?.slice(0, 16), status, error: failure, at: new Date(deps.clock.now()).toISOString() },
          ...(skipped > 0 ? { skipped } : {}),
        },
        `admin ${audit.action}: ${status}`,
      );
    }
    return true;
  };
}

/** Audit lines of unauthenticated requests per second; the rest are skipped and counted. */
const UNAUTHENTICATED_LINES_PER_SECOND = 20;
/** One counter per registry: the handler is rebuilt at each reload that touches the store or admin. */
function auditSkipped(registry: Registry): Counter {
  const name = 'tollgate_admin_audit_lines_skipped_total';
  return (
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({
      name,
      help: `Audit lines of unauthenticated admin requests left out past ${UNAUTHENTICATED_LINES_PER_SECOND} a second (the requests were refused all the same).`,
      registers: [registry],
    })
  );
}

function authenticate(req: IncomingMessage, credential: AdminCredential): void {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (match === null || match[1] === undefined) {
    throw new HttpError(401, 'unauthorized', 'a bearer credential is required', undefined, {
      'www-authenticate': 'Bearer realm="tollgate-admin"',
    });
  }
  if (!credential.matches(match[1])) {
    throw new HttpError(401, 'unauthorized', 'the credential is not valid', undefined, {
      'www-authenticate': 'Bearer realm="tollgate-admin", error="invalid_token"',
    });
  }
}

async function route(req: IncomingMessage, pathname: string, store: RevocationStore, audit: Audit): Promise<Outcome> {
  const segments = pathname.split('/').slice(1).map(decodeSegment);
  const [root, version, collection, ...rest] = segments;
  const method = req.method ?? 'GET';
  if (root !== 'admin' || version !== 'v1') throw notFound();

  if (collection === 'revocations' && rest.length === 0) {
    if (method === 'GET') {
      audit.action = 'list';
      return {
        status: 200,
        body: { revocations: store.list().map(renderEntry), refresh: store.listRefreshMarkers().map(renderMarker) },
      };
    }
    if (method === 'POST') {
      audit.action = 'revoke';
      const body = parseBody(revokeBodySchema, await readJsonBody(req));
      audit.target = { type: body.type, value: body.value };
      audit.reason = body.reason;
      const entry = await store.revoke(body);
      return { status: 201, body: { revocation: renderEntry(entry) } };
    }
    throw methodNotAllowed('GET, POST');
  }

  if (collection === 'revocations' && rest.length === 2) {
    if (method !== 'DELETE') throw methodNotAllowed('DELETE');
    audit.action = 'unrevoke';
    const [type = '', value = ''] = rest;
    if (!isRevocationType(type)) throw new HttpError(400, 'bad_request', 'type: must be one of jti, sid, sub', 'type');
    audit.target = { type, value };
    if (!(await store.unrevoke(type, value))) {
      throw new HttpError(404, 'not_found', `no live ${type} revocation with that value`);
    }
    return { status: 204 };
  }

  if (collection === 'subjects' && rest.length === 2 && rest[1] === 'refresh') {
    if (method !== 'POST') throw methodNotAllowed('POST');
    audit.action = 'refresh';
    const sub = rest[0] ?? '';
    audit.target = { sub };
    const body = parseBody(refreshBodySchema, (await readJsonBody(req)) ?? {});
    if (body.reason !== undefined) audit.reason = body.reason;
    const marker = await store.markRefresh(sub, body.at);
    return { status: 200, body: { refresh: renderMarker(marker) } };
  }

  throw notFound();
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'bad_request', 'path: malformed percent-encoding', 'path');
  }
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof RevocationInputError) return new HttpError(400, 'bad_request', err.message, err.field);
  if (err instanceof RevocationStoreUnavailableError) return new HttpError(503, 'store_unavailable', err.message);
  // Never 503 here: 503 promises the change was not applied.
  if (err instanceof RevocationOutcomeUnknownError) return new HttpError(504, 'outcome_unknown', err.message);
  return new HttpError(500, 'internal', 'internal error; see the server log');
}

function notFound(): HttpError {
  return new HttpError(404, 'not_found', 'no such admin route; see /admin/v1/revocations');
}

function methodNotAllowed(allow: string): HttpError {
  return new HttpError(405, 'method_not_allowed', `allowed: ${allow}`, undefined, { allow });
}

function renderEntry(entry: RevocationEntry): Record<string, string> {
  const out: Record<string, string> = { type: entry.type, value: entry.value };
  if (entry.sub !== undefined) out.sub = entry.sub;
  if (entry.notBefore !== undefined) out.notBefore = formatRfc3339(entry.notBefore);
  out.expiresAt = formatRfc3339(entry.expiresAt);
  if (entry.reason !== undefined) out.reason = entry.reason;
  out.createdAt = formatRfc3339(entry.createdAt);
  return out;
}

function renderMarker(marker: RefreshMarker): Record<string, string> {
  return { sub: marker.sub, at: formatRfc3339(marker.at), expiresAt: formatRfc3339(marker.expiresAt) };
}
