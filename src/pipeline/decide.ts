import type { ContextRoleResolver } from '../context/index.js';
import { principalFromPeer, viewAsRequest, type Decision, type HeaderLookup, type Policy, type ViewAsConfig } from '../policy/index.js';
import type { RevocationStore } from '../revocation/index.js';
import type { Clock } from '../util/clock.js';
import type { TokenFailure } from '../reasons.js';
import { checkBinding, type BindingKind } from './binding.js';
import { authorizeWithContext } from './context-roles.js';
import type { ReplayGuard, SharedClaim } from './dpop-replay.js';
import { extractToken, type TokenLocation } from './extract.js';
import type { RequestView } from './request.js';
import type { IdentityHeaders, Outcome } from './respond.js';
import type { TokenVerifier, VerifiedToken } from './verify.js';

/**
 * What `decide` needs from the running configuration. The server's Runtime is one; naming only these
 * parts keeps the pipeline free of the server, so every transport (and `tollgate check`) shares it.
 */
export interface DecisionRuntime {
  locations: readonly TokenLocation[];
  verifier: Pick<TokenVerifier, 'verify'>;
  policy: Pick<Policy, 'authorize'>;
  /** Answers `contextRole.fallback` queries; without it they fail (deny). */
  contextSources?: ContextRoleResolver;
  /** Present when the config has `viewAs`. */
  viewAs?: ViewAsConfig | undefined;
  /** The headers only tollgate may set; `when` conditions never see them. Without it they see no headers. */
  identityHeaders?: Pick<IdentityHeaders, 'isIdentity'>;
  /** Now, for a DPoP proof's `iat`. */
  clock: Clock;
}

export interface DecideOptions {
  revocation?: Pick<RevocationStore, 'check'>;
  /** Ask the policy for human sentences on why (tollgate check). */
  explain?: boolean;
  /** Claims taken as already verified (tollgate check --claims): extraction and verification are skipped. */
  presetToken?: VerifiedToken;
  /** Called for each token verification, for the cache metrics. */
  onVerified?: (cached: boolean) => void;
  /** Called for each token presented: its length and the provider it came from, if known (size metrics). */
  onToken?: (bytes: number, provider: string | undefined) => void;
  /**
   * Where DPoP proofs are remembered (one guard per process, so a reload forgets none) and, when the
   * revocation store is Redis, its set-if-absent shared by every replica. Without it no DPoP proof is
   * accepted (`dpop_replay_unavailable`): a proof that cannot be remembered could be replayed.
   */
  replay?: { guard: ReplayGuard; shared?: SharedClaim | undefined };
  /** Called for each sender-constraint check, for `tollgate_binding_checks_total`. */
  onBinding?: (kind: BindingKind, result: 'ok' | TokenFailure) => void;
}

/**
 * What `decide` found: the outcome; the policy's decision, when it was consulted; the verified token,
 * when there was one (also on a policy denial, for the decision log's claims), and whether it came
 * from the verified-token cache (a token seen before, likely to be seen again).
 */
export interface Decided {
  outcome: Outcome;
  decision?: Decision;
  token?: VerifiedToken;
  tokenCached?: boolean;
}

/**
 * The pipeline from a request to an Outcome: extract → verify → bind (sender constraints) → revocation → authorize. Transports turn
 * the Outcome into their own answer. A cached token under a rule that asks no context source is
 * decided without waiting (verify and authorizeWithContext answer synchronously then): nothing is
 * awaited but what must be.
 */
export async function decide(runtime: DecisionRuntime, view: RequestView, options: DecideOptions = {}): Promise<Decided> {
  let token = options.presetToken;
  let location: TokenLocation | undefined;
  let refresh = false;
  let tokenCached = false;
  if (!token) {
    const extraction = extractToken(view, runtime.locations);
    if (extraction.kind === 'ambiguous') return { outcome: { kind: 'unauthenticated', reason: 'ambiguous_token' } };
    if (extraction.kind === 'token') {
      const verifying = runtime.verifier.verify(extraction.token, extraction.location);
      const verified = verifying instanceof Promise ? await verifying : verifying;
      options.onVerified?.(verified.ok && verified.cached);
      options.onToken?.(extraction.token.length, verified.ok ? verified.token.provider.config.name : verified.provider?.config.name);
      const dpop = sentWithDpop(extraction.location);
      if (!verified.ok)
        return { outcome: { kind: 'unauthenticated', reason: verified.reason, provider: verified.provider?.config.name, dpop } };
      const binding = checkBinding(verified.token, view, {
        token: extraction.token,
        location: extraction.location,
        nowSeconds: Math.floor(runtime.clock.now() / 1000),
        replay: options.replay?.guard,
        shared: options.replay?.shared,
        onResult: options.onBinding,
      });
      const unbound = binding instanceof Promise ? await binding : binding;
      if (unbound) {
        const { provider, claims } = verified.token;
        return { outcome: { kind: 'unauthenticated', reason: unbound, provider: provider.config.name, sub: claims.sub, dpop } };
      }
      token = verified.token;
      tokenCached = verified.cached;
      location = extraction.location;
    }
  }
  if (token && options.revocation) {
    const revocation = options.revocation.check(token.claims);
    if (revocation.revoked !== null) {
      const reason = revocation.revoked === 'store_unavailable' ? 'revocation_unavailable' : 'revoked';
      const { provider, claims } = token;
      return {
        outcome: { kind: 'unauthenticated', reason, provider: provider.config.name, sub: claims.sub, dpop: sentWithDpop(location) },
      };
    }
    refresh = revocation.refresh;
  }

  const request = {
    method: view.method,
    host: view.host,
    path: view.path,
    headers: joinedHeaders(view),
    principal: principalFromPeer(view),
    conditionHeaders: runtime.identityHeaders && conditionHeaders(view, runtime.identityHeaders),
    direction: view.direction,
  };
  const identity = token ? { provider: token.provider.config.name, claims: token.claims } : null;
  const viewAs = runtime.viewAs && viewAsAsk(view, runtime.viewAs);
  const deciding = authorizeWithContext(
    (contextAnswers) => runtime.policy.authorize(request, identity, { explain: options.explain, contextAnswers, viewAs }),
    runtime.contextSources,
  );
  const decision = deciding instanceof Promise ? await deciding : deciding;
  return { outcome: outcomeOf(decision, token, location, refresh), decision, token, tokenCached };
}

function outcomeOf(decision: Decision, token: VerifiedToken | undefined, location: TokenLocation | undefined, refresh: boolean): Outcome {
  switch (decision.status) {
    case 'ok':
      return {
        kind: 'allow',
        ruleId: decision.ruleId,
        token,
        location,
        refresh,
        dryRunReason: decision.dryRun?.reason,
        internalToken: decision.internalToken,
        viewAs: decision.viewAs,
        granted: decision.granted,
      };
    case 'unauthenticated':
      return { kind: 'unauthenticated', reason: 'missing_token', ruleId: decision.ruleId };
    case 'permission_denied':
      return {
        kind: 'forbidden',
        reason: decision.reason,
        ruleId: decision.ruleId,
        provider: token?.provider.config.name,
        sub: token?.claims.sub,
      };
  }
}

/** The view-as header's role; sent twice it is one ask no `allow` entry matches (denied, never guessed). */
function viewAsAsk(view: RequestView, config: ViewAsConfig) {
  const values = view.headers.get(config.header);
  if (values === undefined) return undefined;
  return viewAsRequest(config, values.length === 1 ? (values[0] ?? '') : '');
}

/** A token sent with the DPoP scheme is answered with the DPoP challenge's error (RFC 9449 §7.1). */
function sentWithDpop(location: TokenLocation | undefined): true | undefined {
  return (location?.kind === 'header' && location.dpop) || undefined;
}

/** What a `when` condition's `request.headers` holds: every header but the identity ones, joined as for `match.headers`. */
function conditionHeaders(view: RequestView, identity: Pick<IdentityHeaders, 'isIdentity'>): () => Record<string, string> {
  return () => {
    const visible = Object.create(null) as Record<string, string>;
    for (const [name, values] of view.headers) if (!name.startsWith(':') && !identity.isIdentity(name)) visible[name] = values.join(',');
    return visible;
  };
}

/** Policy header conditions see one value per name, as Envoy's `headers` map does; joined on demand. */
function joinedHeaders(view: RequestView): HeaderLookup {
  return { get: (name) => view.headers.get(name)?.join(',') };
}
