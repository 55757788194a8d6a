import { LRUCache } from 'lru-cache';
import type { CheckResponse, HeaderValueOption } from '../envoy/types.js';
import type { RequestView } from '../pipeline/request.js';
import {
  ALLOWED,
  allowMetadata,
  requestResponseParts,
  tokenResponseParts,
  upstreamHeaders,
  type AllowOutcome,
  type ResponseContext,
  type TokenResponseParts,
} from '../pipeline/respond.js';
import type { VerifiedToken } from '../pipeline/verify.js';
import { PreparedResponse, type SerializeResponse } from './prepared-response.js';

/** Allows for a token, by token: a token seen again (a cache hit) finds its allow already encoded. */
const MAX_PREPARED_TOKENS = 10_000;

/** CheckResponse.ok_response (3) and OkHttpResponse.headers_to_remove (5), length-delimited. */
const OK_RESPONSE_TAG = (3 << 3) | 2;
const HEADERS_TO_REMOVE_TAG = (5 << 3) | 2;

/**
 * The token whose prepared allow answers `outcome`, if it should be prepared. A token verified just now
 * (not `tokenCached`) is answered whole: many tokens are seen once (a client's last call, a
 * distinct-token load), and preparing their allows would only churn this cache with entries that
 * outlive a few garbage collections and then die in the old generation.
 */
export function preparableToken(outcome: AllowOutcome, tokenCached: boolean): VerifiedToken | undefined {
  return tokenCached ? outcome.token : undefined;
}

/**
 * What an allow for one token was decided as, beyond its rule: the roles context sources granted and a
 * view-as downgrade, both of which change the injected headers. `undefined` for a plain allow (no
 * string to build on the common path). JSON of arrays of strings, never a joined string: two
 * different decisions cannot share a key, whatever a crafted context id contains.
 */
function decidedAsKey({ granted, viewAs }: AllowOutcome): string | undefined {
  if (!granted?.length && !viewAs) return undefined;
  return JSON.stringify([
    (granted ?? []).map(({ claim, context, id, roles }) => [claim, context, id, roles]),
    viewAs ? [viewAs.claim, viewAs.context, viewAs.id, viewAs.role] : null,
  ]);
}

/**
 * An allow for a verified token is the same bytes for every request with that token, rule,
 * decided-as key (context grants, view-as) and minted internal token (reused from the mint cache
 * between mints) except `headers_to_remove`, which depends on the request's own headers. Those bytes are encoded once (status,
 * identity headers, dynamic_metadata) and each request adds only its removals: protobuf lets the
 * fields of a message be written piece by piece. Revocation, expiry and key trust are still decided on
 * every call before an allow exists; this only saves re-encoding the same answer.
 */
export class PreparedAllows {
  private readonly byToken = new LRUCache<VerifiedToken, TokenAllow>({ max: MAX_PREPARED_TOKENS });

  respond(outcome: AllowOutcome, token: VerifiedToken, request: RequestView, ctx: ResponseContext): PreparedAllowResponse {
    const decidedAs = decidedAsKey(outcome);
    const minted = outcome.minted;
    let prepared = this.byToken.get(token);
    // One entry per token: a token decided another way this time replaces it (correct, if not reused).
    if (
      prepared === undefined ||
      prepared.ruleId !== outcome.ruleId ||
      prepared.decidedAs !== decidedAs ||
      prepared.minted?.value !== minted?.value ||
      prepared.minted?.header !== minted?.header
    ) {
      prepared = new TokenAllow(outcome.ruleId, decidedAs, minted, tokenResponseParts(token, outcome, ctx.onUnsafeClaim));
      this.byToken.set(token, prepared);
    }
    return new PreparedAllowResponse(prepared, requestResponseParts(outcome, request, ctx, prepared.parts.headerNames));
  }
}

/** One token's allow under one rule and decided-as key; its bytes are made at the first answer that needs them. */
class TokenAllow {
  private bytes: { status: Buffer; okHeaders: Buffer; metadata: Buffer } | undefined;

  /** What the allow sets upstream: the identity headers, and the minted token when there is one. */
  readonly headers: HeaderValueOption[];

  constructor(
    readonly ruleId: string | null,
    readonly decidedAs: string | undefined,
    readonly minted: AllowOutcome['minted'],
    readonly parts: TokenResponseParts,
  ) {
    this.headers = upstreamHeaders(parts, minted);
  }

  encoded(serialize: SerializeResponse): { status: Buffer; okHeaders: Buffer; metadata: Buffer } {
    this.bytes ??= {
      status: serialize({ status: ALLOWED }),
      okHeaders: fieldContent(serialize({ ok_response: { headers: this.headers } })),
      metadata: serialize({ dynamic_metadata: allowMetadata(this.ruleId, this.parts.metadata) }),
    };
    return this.bytes;
  }
}

/** An allow as the Check handler returns it to grpc-js: the token's part prepared, this request's removals added. */
export class PreparedAllowResponse extends PreparedResponse {
  constructor(
    private readonly prepared: TokenAllow,
    private readonly perRequest: ReturnType<typeof requestResponseParts>,
  ) {
    super();
  }

  toObject(): CheckResponse {
    return {
      status: ALLOWED,
      ok_response: { headers: this.prepared.headers, ...this.perRequest },
      dynamic_metadata: allowMetadata(this.prepared.ruleId, this.prepared.parts.metadata),
    };
  }

  encode(serialize: SerializeResponse): Buffer {
    const { headers_to_remove: remove, response_headers_to_add: refresh, query_parameters_to_remove: params } = this.perRequest;
    // The refresh hint and a token in the query are rare: those answers are encoded whole.
    if (refresh.length > 0 || params.length > 0) return serialize(this.toObject());
    const { status, okHeaders, metadata } = this.prepared.encoded(serialize);
    const lengths = remove.map((name) => Buffer.byteLength(name));
    let okLength = okHeaders.length;
    for (const length of lengths) okLength += 1 + varintSize(length) + length;
    const out = Buffer.allocUnsafe(status.length + 1 + varintSize(okLength) + okLength + metadata.length);
    let at = status.copy(out, 0);
    out[at++] = OK_RESPONSE_TAG;
    at = writeVarint(out, at, okLength);
    at += okHeaders.copy(out, at);
    remove.forEach((name, i) => {
      out[at++] = HEADERS_TO_REMOVE_TAG;
      at = writeVarint(out, at, lengths[i]!);
      at += out.write(name, at);
    });
    metadata.copy(out, at);
    return out;
  }
}

/** The content of the one length-delimited field a message was encoded as (tag, length, content). */
function fieldContent(encoded: Buffer): Buffer {
  let at = 1;
  while (encoded[at]! & 0x80) at++;
  return encoded.subarray(at + 1);
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}
