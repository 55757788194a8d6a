/**
 * Every reason tollgate gives for a denial, in one place. The name is public: it is the
 * `tollgate_check_total` `reason` label and the denial body's `reason`. `status` is the HTTP status of
 * the denial; `bearerError` the challenge's `error=...` code (null: no `error` attribute, RFC 6750
 * §3.1, or no challenge at all; `invalid_dpop_proof` only ever goes in the DPoP challenge, RFC 9449
 * §7.1); `description` goes into `error_description` and logs.
 * Descriptions are fixed text: nothing from the token or the key ever reaches a client or a log line
 * through them. docs/policy.md lists these names; test/reasons.test.ts holds the two equal.
 *
 * To add a reason: add an entry here (its stage decides which union below it joins), use the name
 * where the stage denies, and add it to docs/policy.md's list for its stage.
 */
interface ReasonEntry {
  /** Where in the pipeline the reason is given. */
  stage: 'request' | 'token' | 'revocation' | 'policy' | 'internal';
  status: 401 | 403 | 500;
  bearerError: 'invalid_token' | 'invalid_request' | 'invalid_dpop_proof' | null;
  description: string;
}

export const REASONS = {
  // The Check message itself could not be decoded (not protobuf, truncated, nested too deep).
  malformed_request: { stage: 'request', status: 403, bearerError: null, description: 'the check request could not be decoded' },
  // HTTP mode: the proxy's headers do not name one request (one missing, repeated, or two disagreeing).
  invalid_request_line: {
    stage: 'request',
    status: 403,
    bearerError: null,
    description: 'the proxy did not describe the original request exactly once',
  },
  missing_token: { stage: 'token', status: 401, bearerError: null, description: 'no token in the request' },
  ambiguous_token: { stage: 'token', status: 401, bearerError: 'invalid_request', description: 'more than one token in the request' },
  token_too_large: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token exceeds the size limit' },
  malformed_token: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token is not a well-formed signed JWT' },
  unknown_issuer: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token issuer is not trusted' },
  token_location: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'token was sent where its issuer does not send tokens',
  },
  unsupported_algorithm: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token algorithm is not allowed' },
  unknown_key: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token signing key is not known' },
  keys_unavailable: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'signing keys for this issuer are unavailable',
  },
  invalid_signature: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token signature is invalid' },
  expired: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token expired' },
  not_yet_valid: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token is not valid yet' },
  token_too_old: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token was issued too long ago' },
  invalid_audience: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token audience is not accepted' },
  invalid_type: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token type is not accepted' },
  invalid_claims: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'token claims are invalid' },
  // Opaque tokens and API keys (pipeline/opaque.ts).
  inactive_token: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'the authorization server says the token is not active',
  },
  introspection_failed: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'the token could not be introspected; denied',
  },
  unknown_api_key: { stage: 'token', status: 401, bearerError: 'invalid_token', description: 'the API key is not known' },
  // Sender-constrained tokens (RFC 8705 certificate-bound, RFC 9449 DPoP): checked after the signature.
  unsupported_confirmation: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'token confirmation (cnf) is not one tollgate can check',
  },
  sender_constraint_required: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'token is not bound to a certificate or key and its issuer requires one',
  },
  certificate_mismatch: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'the client certificate is not the one the token is bound to',
  },
  dpop_required: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'token must be sent with the DPoP scheme and a proof',
  },
  invalid_dpop_proof: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_dpop_proof',
    description: 'the DPoP proof is missing or invalid',
  },
  dpop_key_mismatch: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_token',
    description: 'the DPoP proof is not signed by the key the token is bound to',
  },
  dpop_proof_replayed: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_dpop_proof',
    description: 'the DPoP proof has been used before',
  },
  dpop_replay_unavailable: {
    stage: 'token',
    status: 401,
    bearerError: 'invalid_dpop_proof',
    description: 'the DPoP replay check is unavailable; denied',
  },
  revoked: { stage: 'revocation', status: 401, bearerError: 'invalid_token', description: 'token has been revoked' },
  revocation_unavailable: {
    stage: 'revocation',
    status: 401,
    bearerError: 'invalid_token',
    description: 'revocation status is unavailable',
  },
  // A rule needs a user and the request has no token. The response says `missing_token`; this name is
  // seen only as a dry run's would-deny reason.
  authentication_required: {
    stage: 'policy',
    status: 401,
    bearerError: null,
    description: 'the rule requires a token and the request has none',
  },
  provider_not_allowed: {
    stage: 'policy',
    status: 403,
    bearerError: null,
    description: "the token's provider is not one the rule accepts",
  },
  missing_scope: { stage: 'policy', status: 403, bearerError: null, description: 'the token lacks a scope the rule requires' },
  missing_role: { stage: 'policy', status: 403, bearerError: null, description: 'the token lacks a role the rule requires' },
  claim_mismatch: { stage: 'policy', status: 403, bearerError: null, description: 'a claim condition of the rule does not hold' },
  condition_not_met: { stage: 'policy', status: 403, bearerError: null, description: "the rule's when condition does not hold" },
  context_role_mismatch: {
    stage: 'policy',
    status: 403,
    bearerError: null,
    description: 'the token holds no required role for this context',
  },
  context_source_unavailable: {
    stage: 'policy',
    status: 403,
    bearerError: null,
    description: 'the context source for this rule did not answer; denied',
  },
  view_as_not_allowed: {
    stage: 'policy',
    status: 403,
    bearerError: null,
    description: 'the user may not view this request as the role asked for',
  },
  peer_not_allowed: { stage: 'policy', status: 403, bearerError: null, description: 'the calling workload is not allowed' },
  actor_not_allowed: {
    stage: 'policy',
    status: 403,
    bearerError: null,
    description: "no workload the rule accepts is in the token's act chain",
  },
  actor_chain_too_long: {
    stage: 'policy',
    status: 403,
    bearerError: null,
    description: "the token's act chain is longer than allowed",
  },
  no_alternative_satisfied: {
    stage: 'policy',
    status: 403,
    bearerError: null,
    description: "none of the rule's alternatives holds",
  },
  no_matching_rule: { stage: 'policy', status: 403, bearerError: null, description: 'no rule matches the request' },
  invalid_path: { stage: 'policy', status: 403, bearerError: null, description: 'the path cannot be read unambiguously' },
  internal_error: { stage: 'internal', status: 500, bearerError: null, description: 'tollgate failed to decide; denied' },
} as const satisfies Record<string, ReasonEntry>;

export type Reason = keyof typeof REASONS;

type ReasonOfStage<S extends ReasonEntry['stage']> = { [R in Reason]: (typeof REASONS)[R]['stage'] extends S ? R : never }[Reason];

/** Why a request was refused before its token was looked at: there is no one request to decide on. */
export type RequestFailure = ReasonOfStage<'request'>;
/** Why a request's token was refused: the token stage's and the revocation stage's reasons. */
export type TokenFailure = ReasonOfStage<'token' | 'revocation'>;
/** Why the policy denied a request. */
export type PolicyReason = ReasonOfStage<'policy'>;
