import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deps } from '../observability/deps.js';
import { sendJson } from '../util/http-reply.js';
import { readActorChain, type ActorClaim } from '../util/actor-chain.js';
import type { Caller } from '../util/caller.js';
import { certificateThumbprint } from '../util/cert-thumbprint.js';
import { createInternalTokenMetrics } from './metrics.js';
import { TokenMinter } from './minter.js';
import type { InternalTokensConfig } from './schema.js';
import { KEYS_POLL_MS, SigningKeys } from './signing-keys.js';

export { internalTokensSchema, INTERNAL_TOKEN_TYP, type InternalTokensConfig } from './schema.js';

/** What a rule asks for, its audience already resolved for this request. */
export interface InternalTokenSpec {
  audience: string;
  exchange: boolean;
}

export type IssueResult =
  { ok: true; header: string; value: string } | { ok: false; denial: 'actor_chain_too_long' | 'error'; detail: string };

/**
 * The gateway side of internal tokens: signing keys from keysDir, the minted-token cache, and the
 * JWKS and discovery document on the HTTP port.
 */
export class InternalTokens {
  private readonly keys: SigningKeys;
  private readonly minter: TokenMinter;

  constructor(
    private readonly config: InternalTokensConfig,
    private readonly deps: Deps,
  ) {
    this.keys = new SigningKeys(config.keysDir, config.algorithm, deps, () => this.onKeysChanged());
    this.minter = new TokenMinter(config, this.keys, deps.clock, createInternalTokenMetrics(deps.registry));
  }

  /** Loads the keys; none usable is a config error. */
  start(pollMs = KEYS_POLL_MS): this {
    this.keys.start(pollMs);
    return this;
  }

  stop(): void {
    this.keys.stop();
  }

  /**
   * A token for the next hop. `claims` are the verified token's; `caller` is the client certificate
   * of the Check RPC (the workload whose Envoy asked): its SPIFFE ID becomes `act.sub`, and with
   * `bindToCaller` its thumbprint `cnf["x5t#S256"]`. With `exchange`, the verified token's own `act`
   * is nested under it (RFC 8693 §4.1).
   */
  issue(
    spec: InternalTokenSpec,
    claims: Record<string, unknown>,
    caller: Caller | undefined,
    revoked?: (claims: { sub: string; iat: number; jti: string }) => boolean,
  ): IssueResult {
    const { sub, exp } = claims;
    if (typeof sub !== 'string' || sub === '')
      return { ok: false, denial: 'error', detail: 'the verified token has no string sub to carry' };
    if (caller?.id === undefined)
      return {
        ok: false,
        denial: 'error',
        // Either listener may ask: name both fields, so the hint is right for the one in use.
        detail:
          'the caller presented no client certificate with a SPIFFE ID (gRPC: listen.tls with clientCaFile; HTTP authorization port: listen.httpTls with clientCaFile): act.sub would be unknown',
      };
    const act: ActorClaim =
      spec.exchange && claims.act !== undefined ? { sub: caller.id, act: claims.act as ActorClaim } : { sub: caller.id };
    const chain = readActorChain(act, this.config.maxChainDepth);
    if (!chain.ok) {
      return chain.reason === 'too_long'
        ? { ok: false, denial: 'actor_chain_too_long', detail: `the act chain would exceed maxChainDepth ${this.config.maxChainDepth}` }
        : { ok: false, denial: 'error', detail: 'the verified token has a malformed act claim' };
    }
    const copied: Record<string, unknown> = {};
    for (const name of this.config.claims) if (Object.hasOwn(claims, name)) copied[name] = claims[name];
    const token = this.minter.mint(
      {
        sub,
        audience: spec.audience,
        claims: copied,
        act,
        // Hashed per request (~1 µs for a DER of 1 KB) rather than cached: the handshake's DER is a new buffer each call.
        x5tS256: this.config.bindToCaller ? certificateThumbprint(caller.certificate) : undefined,
        notAfter: typeof exp === 'number' ? exp : undefined,
      },
      revoked,
    );
    if (token === undefined) return { ok: false, denial: 'error', detail: 'no signing key usable, or the token it came with expires now' };
    const value = this.config.header === 'authorization' ? `Bearer ${token}` : token;
    return { ok: true, header: this.config.header, value };
  }

  /** The header the minted token travels in. */
  get header(): string {
    return this.config.header;
  }

  /** `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration` on the HTTP port. */
  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === JWKS_PATH) {
      // Verifiers refetch well inside the publish-ahead window, so a new key reaches them before it signs.
      const maxAge = Math.min(300, Math.floor(this.config.publishAheadSeconds / 2));
      sendJson(res, 200, this.keys.jwks(), { 'cache-control': `public, max-age=${maxAge}` });
      return true;
    }
    if (path === DISCOVERY_PATH) {
      const base = this.config.issuer.replace(/\/+$/, '');
      const document = {
        issuer: this.config.issuer,
        jwks_uri: `${base}${JWKS_PATH}`,
        id_token_signing_alg_values_supported: [this.config.algorithm],
        subject_types_supported: ['public'],
        response_types_supported: ['id_token'],
      };
      sendJson(res, 200, document, { 'cache-control': 'public, max-age=300' });
      return true;
    }
    return false;
  };

  private onKeysChanged(): void {
    this.minter.keepOnlyKey(this.keys.signingKey(this.deps.clock.now(), this.config.publishAheadSeconds * 1000)?.kid);
  }
}

const JWKS_PATH = '/.well-known/jwks.json';
const DISCOVERY_PATH = '/.well-known/openid-configuration';
