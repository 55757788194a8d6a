import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../util/config-error.js';
import type { AdminConfig } from '../config/admin.js';

/** A short secret can be guessed over the network; this is the floor, 32+ random bytes is the advice. */
export const MIN_SECRET_LENGTH = 16;

export interface AdminCredential {
  /** Constant-time comparison of a presented bearer value against the secret. */
  matches(presented: string): boolean;
  /** Names the credential in audit logs without revealing it: `sha256:` + 12 hex digits. */
  fingerprint: string;
}

/**
 * Reads the secret once. Returns undefined when no credential is configured (admin API off); throws,
 * naming the file or variable, when one is configured but unusable.
 */
export function loadAdminCredential(config: AdminConfig, env: NodeJS.ProcessEnv): AdminCredential | undefined {
  let secret: string;
  let source: string;
  if (config.tokenFile !== undefined) {
    source = `admin.tokenFile ${config.tokenFile}`;
    try {
      secret = readFileSync(config.tokenFile, 'utf8').trim();
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError([`${source}: cannot read the admin secret (${reason})`]);
    }
  } else if (config.tokenEnv !== undefined) {
    source = `admin.tokenEnv ${config.tokenEnv}`;
    secret = (env[config.tokenEnv] ?? '').trim();
  } else {
    return undefined;
  }
  if (secret.length === 0) {
    throw new ConfigError([`${source}: the admin secret is empty; generate one, e.g. openssl rand -hex 32`]);
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError([
      `${source}: the admin secret has ${secret.length} characters, at least ${MIN_SECRET_LENGTH} are required; ` +
        'generate one, e.g. openssl rand -hex 32',
    ]);
  }
  const expected = sha256(secret);
  return {
    // Hashing both sides gives equal-length buffers, so timingSafeEqual never leaks the secret's length.
    matches: (presented) => timingSafeEqual(sha256(presented), expected),
    fingerprint: `sha256:${createHash('sha256').update('tollgate-admin-fingerprint:').update(secret).digest('hex').slice(0, 12)}`,
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
