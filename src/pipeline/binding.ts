import { pemThumbprint } from '../util/cert-thumbprint.js';
import type { TokenFailure } from '../reasons.js';
import type { ReplayGuard, SharedClaim } from './dpop-replay.js';
import { verifyProof } from './dpop.js';
import type { TokenLocation } from './extract.js';
import type { RequestView } from './request.js';
import type { VerifiedToken } from './verify.js';

/** Which binding a check was about, for `tollgate_binding_checks_total{kind}`. */
export type BindingKind = 'certificate' | 'dpop' | 'cnf';

export interface BindingOptions {
  /** The raw access token, for the proof's `ath`. */
  token: string;
  location: TokenLocation;
  nowSeconds: number;
  replay: ReplayGuard | undefined;
  /** The revocation store's set-if-absent, when every replica shares it (Redis). */
  shared: SharedClaim | undefined;
  /** Called once per check with each binding kind found and its result (`ok` or the denial's reason). */
  onResult?: (kind: BindingKind, result: 'ok' | TokenFailure) => void;
}

/** The `cnf` members tollgate checks (RFC 8705 §3.1, RFC 9449 §6.1); any other member refuses the token. */
const CONFIRMATIONS = new Set(['x5t#S256', 'jkt']);

/**
 * The binding stage, right after the signature and before revocation: a token bound to its sender
 * (`cnf`) is accepted only from that sender, RFC 8705 §3 and RFC 9449 §7 being the resource server's
 * duty. Checked on every request, the verified-token cache's hits included: the token may be the same,
 * the certificate and the proof are this request's. Synchronous unless a DPoP proof has to be checked.
 */
export function checkBinding(
  verified: VerifiedToken,
  view: RequestView,
  options: BindingOptions,
): TokenFailure | undefined | Promise<TokenFailure | undefined> {
  const config = verified.provider.config;
  const cnf = confirmation(verified.claims.cnf);
  const report = (kind: BindingKind, failure: TokenFailure | undefined) => {
    options.onResult?.(kind, failure ?? 'ok');
    return failure;
  };
  if (cnf === 'unsupported') return report('cnf', 'unsupported_confirmation');
  if (cnf === undefined && config.requireSenderConstraint) return report('cnf', 'sender_constraint_required');
  const x5t = cnf?.['x5t#S256'];
  if (x5t !== undefined) {
    // No certificate at all is a mismatch too: the token's holder is whoever holds that certificate's key.
    const presented = view.certificate === undefined ? undefined : pemThumbprint(view.certificate);
    const failure = report('certificate', presented === x5t ? undefined : 'certificate_mismatch');
    if (failure) return failure;
  }
  const jkt = cnf?.jkt;
  if (options.location.kind !== 'header' || options.location.dpop !== true) {
    // A DPoP-bound token sent as Bearer is a bearer token again: refused (RFC 9449 §7.1).
    if (jkt !== undefined || config.dpop?.required) return report('dpop', 'dpop_required');
    return undefined;
  }
  return checkProof(verified, view, options, jkt).then((failure) => report('dpop', failure));
}

async function checkProof(
  verified: VerifiedToken,
  view: RequestView,
  options: BindingOptions,
  jkt: string | undefined,
): Promise<TokenFailure | undefined> {
  const settings = verified.provider.config.dpop;
  const proofs = view.headers.get('dpop');
  // Exactly one proof (RFC 9449 §4.3 check 1); Envoy's `headers` map joins repeats with ",", which a JWS never holds.
  if (!settings || proofs?.length !== 1 || proofs[0]!.includes(',')) return 'invalid_dpop_proof';
  const proof = await verifyProof(
    proofs[0]!,
    { method: view.method, uri: requestUri(view), accessToken: options.token, nowSeconds: options.nowSeconds },
    { algorithms: settings.algorithms, maxAgeSeconds: settings.maxAgeSeconds, skewSeconds: verified.provider.config.clockSkewSeconds },
  );
  if (!proof) return 'invalid_dpop_proof';
  // A DPoP scheme with a token bound to no key, or to another one, proves nothing about this token.
  if (jkt === undefined || proof.jkt !== jkt) return 'dpop_key_mismatch';
  if (!options.replay) return 'dpop_replay_unavailable';
  const verdict = await options.replay.claim(proof.jkt, proof.jti, proof.acceptableUntil, options.shared);
  return verdict === 'fresh' ? undefined : verdict === 'replayed' ? 'dpop_proof_replayed' : 'dpop_replay_unavailable';
}

/** The request's URI for `htu`, query and fragment left to the comparison; undefined without a scheme. */
function requestUri(view: RequestView): string | undefined {
  const scheme = view.scheme?.toLowerCase();
  if (scheme !== 'https' && scheme !== 'http') return undefined;
  const end = view.path.search(/[?#]/);
  return `${scheme}://${view.host}${end < 0 ? view.path : view.path.slice(0, end)}`;
}

/**
 * The token's `cnf` (RFC 7800): undefined when absent, `unsupported` when it is not an object of
 * string members tollgate understands. A member tollgate cannot check is never ignored: that would
 * turn a bound token into a bearer token.
 */
function confirmation(cnf: unknown): Partial<Record<'x5t#S256' | 'jkt', string>> | 'unsupported' | undefined {
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return 'unsupported';
  const entries = Object.entries(cnf);
  if (entries.length === 0) return 'unsupported';
  for (const [name, value] of entries) if (!CONFIRMATIONS.has(name) || typeof value !== 'string' || value === '') return 'unsupported';
  return cnf;
}
