import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../util/config-error.js';
import type { Deps } from '../observability/deps.js';
import type { SigningAlgorithm } from './schema.js';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  /** The public half as served in the JWKS. */
  publicJwk: JsonWebKey & { kid: string; alg: string; use: 'sig' };
  /** Since when verifiers may have it: the JWK's `created` (seconds), else when this replica first saw it. */
  publishedAtMs: number;
}

/** How often keysDir is compared with the keys in use. */
export const KEYS_POLL_MS = 1000;

/**
 * The signing keys in `keysDir`: one private JWK per `*.json` file (names starting with `.` are the
 * Kubernetes Secret's own bookkeeping and are skipped). Every replica reading the same directory
 * signs with the same keys and serves the same JWKS. The directory is re-read every second; a changed
 * set calls `onChange`, so tokens signed with a removed key stop being handed out at once.
 */
export class SigningKeys {
  private keys: SigningKey[] = [];
  private version = '';
  private timer: NodeJS.Timeout | undefined;
  /** When this replica first saw each kid; keys present at startup count as published long ago. */
  private readonly firstSeen = new Map<string, number>();
  private started = false;

  constructor(
    private readonly dir: string,
    private readonly algorithm: SigningAlgorithm,
    private readonly deps: Deps,
    private readonly onChange: () => void,
  ) {}

  /** Loads the keys (none usable fails startup) and starts following the directory. */
  start(pollMs = KEYS_POLL_MS): void {
    this.refresh();
    if (this.keys.length === 0)
      throw new ConfigError([
        `internalTokens.keysDir: no usable ${this.algorithm} private JWK in ${this.dir}; create one with tollgate keys rotate --dir ${this.dir}`,
      ]);
    this.started = true;
    this.timer = setInterval(() => this.refresh(), pollMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * The key to sign with at `nowMs`: the newest whose publish-ahead window has passed, so verifiers'
   * caches already hold it; if none has, the oldest (nothing older is left to keep signing with).
   */
  signingKey(nowMs: number, publishAheadMs: number): SigningKey | undefined {
    let chosen: SigningKey | undefined;
    for (const key of this.keys) {
      if (key.publishedAtMs + publishAheadMs <= nowMs && (!chosen || key.publishedAtMs > chosen.publishedAtMs)) chosen = key;
    }
    return (
      chosen ??
      this.keys.reduce<SigningKey | undefined>((oldest, k) => (!oldest || k.publishedAtMs < oldest.publishedAtMs ? k : oldest), undefined)
    );
  }

  /** Every public key, published ahead of use and kept while tokens it signed may live. */
  jwks(): { keys: SigningKey['publicJwk'][] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }

  refresh(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir)
        .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
        .sort();
    } catch (err) {
      this.logOnce(`cannot read ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      return; // keep signing with what was loaded: a transient read error must not stop the gateway
    }
    const texts = names.map((name) => {
      try {
        return readFileSync(join(this.dir, name), 'utf8');
      } catch {
        return ''; // removed between listing and reading
      }
    });
    const version = createHash('sha256')
      .update(JSON.stringify([names, texts]))
      .digest('hex');
    if (version === this.version) return;
    this.version = version;
    const keys: SigningKey[] = [];
    names.forEach((name, i) => {
      const key = this.parse(name, texts[i]!);
      if (key && !keys.some((k) => k.kid === key.kid)) keys.push(key);
    });
    const before = this.keys.map((k) => k.kid).join(',');
    this.keys = keys;
    if (keys.map((k) => k.kid).join(',') !== before) {
      this.deps.logger.info({ keys: keys.map((k) => k.kid) }, 'internal token signing keys loaded');
      this.onChange();
    }
  }

  /** One private JWK file; a bad one is skipped with a log line that never shows key material. */
  private parse(name: string, text: string): SigningKey | undefined {
    let jwk: Record<string, unknown>;
    try {
      jwk = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.deps.logger.error({ file: name }, 'internal token key file is not JSON; skipped');
      return undefined;
    }
    const { kid, alg, created } = jwk;
    if (typeof kid !== 'string' || kid === '' || alg !== this.algorithm) {
      this.deps.logger.error(
        { file: name, alg: typeof alg === 'string' ? alg : null },
        `internal token key needs a kid and alg ${this.algorithm}; skipped`,
      );
      return undefined;
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
    } catch {
      this.deps.logger.error({ file: name, kid }, 'internal token key is not a usable private JWK; skipped');
      return undefined;
    }
    const now = this.deps.clock.now();
    if (!this.firstSeen.has(kid)) this.firstSeen.set(kid, this.started ? now : -Infinity);
    const seen = this.firstSeen.get(kid)!;
    const publishedAtMs = typeof created === 'number' ? Math.max(created * 1000, seen) : seen;
    const publicJwk = { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg: this.algorithm, use: 'sig' as const };
    return { kid, privateKey, publicJwk, publishedAtMs };
  }

  private lastError: string | undefined;

  private logOnce(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.deps.logger.error({ error: message }, 'internal token keys: keysDir unreadable; the loaded keys keep signing');
  }
}
