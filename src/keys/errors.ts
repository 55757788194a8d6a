import { ConfigError } from '../util/config-error.js';
/** Why getKey refused. Callers switch on `code`; the message is safe to log (no key material). */
export type KeyErrorCode = 'unknown_key' | 'keys_unavailable' | 'alg_mismatch';

export class KeyError extends Error {
  override readonly name = 'KeyError';
  constructor(
    readonly code: KeyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A JWKS (or discovery document) could not be loaded or parsed; the last good key set stays. */
export class JwksSourceError extends Error {
  override readonly name = 'JwksSourceError';
}

/** The `jwks:` section (or the provider around it) cannot work; raised at creation, before any I/O. */
/** A `jwks:` section that cannot work; a ConfigError, so `tollgate serve` exits 2 naming it. */
export class JwksConfigError extends ConfigError {
  constructor(problem: string) {
    super([problem]);
    this.name = 'JwksConfigError';
  }
}
