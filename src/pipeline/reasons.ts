/**
 * Every reason tollgate gives for a denial. The name is a metric label and the JSON body's `reason`;
 * the description goes into `WWW-Authenticate: ... error_description` and logs. Descriptions are fixed
 * text: nothing from the token or the key ever reaches a client or a log line through them.
 */
export const TOKEN_FAILURES = {
  missing_token: 'no token in the request',
  ambiguous_token: 'more than one token in the request',
  token_too_large: 'token exceeds the size limit',
  malformed_token: 'token is not a well-formed signed JWT',
  unknown_issuer: 'token issuer is not trusted',
  token_location: 'token was sent where its issuer does not send tokens',
  unsupported_algorithm: 'token algorithm is not allowed',
  unknown_key: 'token signing key is not known',
  keys_unavailable: 'signing keys for this issuer are unavailable',
  invalid_signature: 'token signature is invalid',
  expired: 'token expired',
  not_yet_valid: 'token is not valid yet',
  token_too_old: 'token was issued too long ago',
  invalid_audience: 'token audience is not accepted',
  invalid_type: 'token type is not accepted',
  invalid_claims: 'token claims are invalid',
  revoked: 'token has been revoked',
  revocation_unavailable: 'revocation status is unavailable',
} as const;

export type TokenFailure = keyof typeof TOKEN_FAILURES;
