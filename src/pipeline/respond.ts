import type { Config } from '../config/schema.js';
import type { CheckResponse, HeaderValueOption, Struct } from '../envoy/types.js';
import { toStruct } from '../envoy/types.js';
import { VIEW_AS_INJECTED_HEADER, type ContextGrant, type ViewAsApplied } from '../policy/index.js';
import { encodeClaim } from '../identity/header-value.js';
import { readClaim } from '../util/claim-path.js';
import { decidedRoles } from './decided-roles.js';
import type { TokenLocation } from './extract.js';
import type { RequestView } from './request.js';
import { REASONS, type PolicyReason, type Reason, type RequestFailure, type TokenFailure } from '../reasons.js';
import type { VerifiedToken } from './verify.js';

/** google.rpc.Code values Envoy treats as a denial (envoy PR 34951). */
const GRPC_OK = 0;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAUTHENTICATED = 16;

/**
 * The pipeline's answer, before it becomes Envoy's CheckResponse. `provider` and `sub` are carried for
 * the decision log line and metrics only; they never reach the client.
 */
export type Outcome =
  | {
      kind: 'allow';
      ruleId: string | null;
      token?: VerifiedToken;
      /** Where the token came from, so it can be kept from the upstream. */
      location?: TokenLocation;
      /** Tell the client its token carries stale permissions. */
      refresh?: boolean;
      /** Set when a dry-run rule would have denied: the reason it would have given. */
      dryRunReason?: PolicyReason;
      /** The rule's internalToken, audience resolved: a token to mint for the upstream. */
      internalToken?: { audience: string; exchange: boolean };
      /** The minted internal token: it goes upstream and the external token never does. */
      minted?: { header: string; value: string };
      /** The request was decided as a lesser role (viewAs): the injected headers say so. */
      viewAs?: ViewAsApplied;
      /** Context roles a context source answered: the injected roles header carries them too. */
      granted?: readonly ContextGrant[];
    }
  /** `dpop`: the token came with the DPoP scheme, so the DPoP challenge carries the error. */
  | { kind: 'unauthenticated'; reason: TokenFailure; ruleId?: string | null; provider?: string; sub?: unknown; dpop?: boolean }
  | { kind: 'forbidden'; reason: PolicyReason; ruleId: string | null; provider?: string; sub?: unknown }
  /** There is no one request to decide on: the Check message could not be decoded, or the proxy's headers do not name one. */
  | { kind: 'refused_request'; reason: RequestFailure }
  /** Something inside tollgate failed: deny, never an RPC error that `failure_mode_allow` would pass. */
  | { kind: 'error' };

/** Which incoming headers only tollgate may set, compiled once per config. */
export class IdentityHeaders {
  private readonly names: Set<string>;
  /** The prefixes as one anchored pattern: one test per header instead of one per prefix. */
  private readonly prefixes: RegExp | undefined;
  readonly forwardToken: boolean;

  /** Keeps only what it reads: a runtime lives long, and the parsed config holds every parsed rule. */
  constructor(config: Pick<Config, 'identityHeaders' | 'providers' | 'internalTokens' | 'viewAs'>) {
    this.forwardToken = config.identityHeaders.forwardToken;
    const entries = config.identityHeaders.strip;
    const prefixes = entries.filter((e) => e.endsWith('-'));
    this.prefixes = prefixes.length > 0 ? new RegExp(`^(?:${prefixes.map(escapeRegExp).join('|')})`) : undefined;
    this.names = new Set(entries.filter((e) => !e.endsWith('-')));
    // A header tollgate injects for any provider is identity, even outside the configured prefixes.
    for (const p of config.providers) for (const m of p.claimToHeaders) this.names.add(m.header);
    // So is the header a minted internal token travels in, whatever its name: a client's own copy (a
    // leaked internal token replayed from outside) must not reach the service on an allow that mints
    // nothing. Unless a provider reads tokens there: then it is verified (or refused) as a token.
    const mintedHeader = config.internalTokens?.header;
    const tokenHeaders = new Set(config.providers.flatMap((p) => p.fromHeaders.map((h) => h.name.toLowerCase())));
    if (mintedHeader !== undefined && !tokenHeaders.has(mintedHeader)) this.names.add(mintedHeader);
    // Only tollgate says a request was viewed as a lesser role; the ask itself never reaches the upstream.
    if (config.viewAs) {
      this.names.add(VIEW_AS_INJECTED_HEADER);
      this.names.add(config.viewAs.header);
    }
  }

  isIdentity(name: string): boolean {
    return this.names.has(name) || (this.prefixes?.test(name) ?? false);
  }
}

/**
 * The DPoP challenge (RFC 9449 §7.1), when some provider accepts DPoP: the proof algorithms any of
 * them accepts, space-separated, and whether a Bearer token is still accepted anywhere (then both
 * challenges are sent).
 */
export interface DpopChallenge {
  algs: string;
  bearer: boolean;
}

/** The DPoP challenge of these providers, or undefined when none accepts DPoP. */
export function dpopChallengeOf(providers: Config['providers']): DpopChallenge | undefined {
  const algs = new Set(providers.flatMap((p) => p.dpop?.algorithms ?? []));
  if (algs.size === 0) return undefined;
  return { algs: [...algs].join(' '), bearer: providers.length === 0 || providers.some((p) => !p.dpop?.required) };
}

export interface ResponseContext {
  identityHeaders: IdentityHeaders;
  realm: string;
  /** Present when some provider accepts DPoP. */
  dpop?: DpopChallenge | undefined;
  /** Called for a claim that cannot travel as a header value; the value itself is never logged. */
  onUnsafeClaim: (header: string, claim: string) => void;
}

export function toCheckResponse(outcome: Outcome, request: RequestView, ctx: ResponseContext): CheckResponse {
  if (outcome.kind === 'allow') return allowResponse(outcome, request, ctx);
  const { reason, ruleId } = denialCause(outcome);
  return denialResponse(reason, ruleId, ctx.realm, ctx.dpop && { ...ctx.dpop, presented: dpopPresented(outcome) });
}

/** Whether the denied request's token came with the DPoP scheme. */
export function dpopPresented(outcome: DenialOutcome): boolean {
  return outcome.kind === 'unauthenticated' && outcome.dpop === true;
}

/** Every outcome but an allow. */
export type DenialOutcome = Exclude<Outcome, { kind: 'allow' }>;

/** What a denial says: its reason and the deciding rule. The whole answer follows from these and the realm. */
export function denialCause(outcome: DenialOutcome): { reason: Reason; ruleId: string | null } {
  switch (outcome.kind) {
    case 'unauthenticated':
    case 'forbidden':
      return { reason: outcome.reason, ruleId: outcome.ruleId ?? null };
    case 'refused_request':
      return { reason: outcome.reason, ruleId: null };
    case 'error':
      return { reason: 'internal_error', ruleId: null };
  }
}

/** An allow, as toCheckResponse and the server's prepared allows (src/server/prepared-allow.ts) take it. */
export type AllowOutcome = Extract<Outcome, { kind: 'allow' }>;

/**
 * What an allowed request with this token sends upstream: the identity headers and the token's part of
 * `dynamic_metadata`. The same for every request with the token, so the gRPC server encodes it once per
 * token and rule (src/server/prepared-allow.ts), in a bounded cache of its own: kept with every cached
 * token it would cost several hundred bytes each.
 */
export interface TokenResponseParts {
  headers: HeaderValueOption[];
  headerNames: ReadonlySet<string>;
  metadata: NonNullable<Struct['fields']>;
}

export function tokenResponseParts(
  token: VerifiedToken,
  decided: Pick<AllowOutcome, 'viewAs' | 'granted'>,
  onUnsafeClaim: ResponseContext['onUnsafeClaim'],
): TokenResponseParts {
  const { viewAs } = decided;
  const headers: HeaderValueOption[] = [];
  const headerNames = new Set<string>();
  const selected: Record<string, unknown> = {};
  if (viewAs) {
    headers.push(overwrite(VIEW_AS_INJECTED_HEADER, viewAs.role));
    headerNames.add(VIEW_AS_INJECTED_HEADER);
  }
  for (const { header, claim } of token.provider.claimHeaders) {
    const value = decidedRoles(readClaim(token.claims, claim), claim.source, decided);
    if (value === undefined) continue;
    selected[claim.source] = value;
    const text = headerValueOf(value);
    if (text === undefined) {
      onUnsafeClaim(header, claim.source);
      continue;
    }
    headers.push(overwrite(header, text));
    headerNames.add(header);
  }
  const { fields } = toStruct({ provider: token.provider.config.name, iss: token.claims.iss, sub: token.claims.sub, claims: selected });
  return { headers, headerNames, metadata: fields ?? {} };
}

function allowResponse(outcome: AllowOutcome, request: RequestView, ctx: ResponseContext): CheckResponse {
  const parts = outcome.token && tokenResponseParts(outcome.token, outcome, ctx.onUnsafeClaim);
  const headers = upstreamHeaders(parts, outcome.minted);
  const { headers_to_remove, response_headers_to_add, query_parameters_to_remove } = requestResponseParts(
    outcome,
    request,
    ctx,
    parts?.headerNames,
  );
  return {
    status: ALLOWED,
    ok_response: { headers, headers_to_remove, response_headers_to_add, query_parameters_to_remove },
    dynamic_metadata: allowMetadata(outcome.ruleId, parts?.metadata),
  };
}

/** The headers an allow sets upstream: the token's identity headers, then a minted internal token. */
export function upstreamHeaders(parts: TokenResponseParts | undefined, minted: AllowOutcome['minted']): HeaderValueOption[] {
  const headers = parts?.headers ?? [];
  return minted ? [...headers, overwrite(minted.header, minted.value)] : headers;
}

export const ALLOWED = { code: GRPC_OK } as const;

/** `dynamic_metadata` of an allow: the token's part, and the deciding rule. */
export function allowMetadata(ruleId: string | null, tokenMetadata: TokenResponseParts['metadata'] = {}): Struct {
  return { fields: { ...tokenMetadata, rule: ruleId === null ? { nullValue: 'NULL_VALUE' } : { stringValue: ruleId } } };
}

/**
 * The parts of an allow that depend on this request rather than on the token: the incoming identity
 * headers and the token's own header to remove (except those tollgate overwrites), the refresh hint,
 * and the query parameter that carried the token. Computed on every call, prepared allows included.
 */
export function requestResponseParts(
  outcome: AllowOutcome,
  request: RequestView,
  ctx: ResponseContext,
  overwritten: ReadonlySet<string> | undefined,
): { headers_to_remove: string[]; response_headers_to_add: HeaderValueOption[]; query_parameters_to_remove: string[] } {
  const minted = outcome.minted;
  // With a minted token the external one never travels on, whatever forwardToken says, and an API key
  // (a long-lived secret the upstream has no use for) never does. A cookie cannot be removed alone,
  // so the whole cookie header goes.
  const neverForwarded = minted !== undefined || outcome.token?.provider.apiKeys !== undefined;
  const dropToken = neverForwarded || !ctx.identityHeaders.forwardToken;
  const tokenHeader =
    outcome.location && dropToken
      ? outcome.location.kind === 'header'
        ? outcome.location.name
        : outcome.location.kind === 'cookie' && neverForwarded
          ? 'cookie'
          : undefined
      : undefined;
  const remove: string[] = [];
  for (const name of request.headers.keys()) {
    if (name.startsWith(':') || name === 'host' || overwritten?.has(name) || name === minted?.header) continue;
    // A DPoP proof travels as the token does: it is half of the same credential, and spent here.
    if (name === tokenHeader || (name === DPOP_HEADER && dropToken) || ctx.identityHeaders.isIdentity(name)) remove.push(name);
  }
  return {
    headers_to_remove: remove,
    response_headers_to_add: outcome.refresh ? [REFRESH_REQUIRED] : [],
    query_parameters_to_remove: outcome.location?.kind === 'param' && dropToken ? [outcome.location.name] : [],
  };
}

/** The denial body's `error`, by HTTP status. */
const BODY_ERROR = { 401: 'unauthenticated', 403: 'forbidden', 500: 'internal_error' } as const;

const DPOP_HEADER = 'dpop';

/**
 * A denial as the reason catalogue describes it: 401s carry a challenge, and gRPC code 16. With DPoP
 * configured the challenge is `DPoP` with `algs` (RFC 9449 §7.1), after `Bearer` when Bearer tokens
 * are accepted too, in one header value (RFC 9110 §11.6.1 allows a list). The error goes to the DPoP
 * challenge when it is about DPoP (`invalid_dpop_proof`, a token that must use DPoP) or the token came
 * with the DPoP scheme, else to the Bearer one.
 */
export function denialResponse(
  reason: Reason,
  ruleId: string | null,
  realm: string,
  dpop?: DpopChallenge & { presented: boolean },
): CheckResponse {
  const { status, bearerError, description } = REASONS[reason];
  const headers: HeaderValueOption[] = [];
  if (status === 401) {
    // RFC 6750 §3.1: no error attribute when the request carried no token at all.
    const error = bearerError === null ? '' : `, error="${bearerError}", error_description="${description}"`;
    const onDpop =
      dpop !== undefined && (dpop.presented || !dpop.bearer || bearerError === 'invalid_dpop_proof' || reason === 'dpop_required');
    const challenges: string[] = [];
    if (dpop === undefined || dpop.bearer) challenges.push(`Bearer realm="${realm}"${onDpop ? '' : error}`);
    if (dpop) challenges.push(`DPoP realm="${realm}", algs="${dpop.algs}"${onDpop ? error : ''}`);
    headers.push(overwrite('www-authenticate', challenges.join(', ')));
  }
  const body: Record<string, string> = { error: BODY_ERROR[status], reason };
  if (ruleId) body.rule = ruleId;
  return {
    status: { code: status === 401 ? GRPC_UNAUTHENTICATED : GRPC_PERMISSION_DENIED, message: reason },
    denied_response: {
      status: { code: status },
      headers: [...headers, overwrite('content-type', 'application/json')],
      body: JSON.stringify(body),
    },
  };
}

const REFRESH_REQUIRED = overwrite('tollgate-token-refresh', 'required');

/** `append: false` set explicitly: Envoy versions differ in what an unset field means. */
function overwrite(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append: { value: false }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

/** Visible ASCII and inner spaces/tabs only: anything else could split or smuggle a header. */
const SAFE_HEADER_VALUE = /^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$/;
const MAX_HEADER_VALUE = 4096;

/** The claim in the encoding `tollgate/identity` reads (one module for both), if it has one and is safe to send. */
function headerValueOf(value: unknown): string | undefined {
  const text = encodeClaim(value);
  return text !== undefined && text.length <= MAX_HEADER_VALUE && SAFE_HEADER_VALUE.test(text) ? text : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
