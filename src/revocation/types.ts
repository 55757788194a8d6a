export type RevocationType = 'jti' | 'sid' | 'sub';

export function isRevocationType(value: unknown): value is RevocationType {
  return value === 'jti' || value === 'sid' || value === 'sub';
}

/** All times are epoch seconds, like JWT `iat`/`exp`. */
export interface RevocationEntry {
  type: RevocationType;
  value: string;
  /** `sub` only: tokens of this subject with `iat < notBefore` are revoked. */
  notBefore?: number;
  /** The entry is dropped at this moment; after it every token it covered has expired anyway. */
  expiresAt: number;
  reason?: string;
  /** `jti`/`sid` only: the subject the token or session belongs to. Informational, never matched. */
  sub?: string;
  createdAt: number;
}

export type RevocationInput = Omit<RevocationEntry, 'createdAt' | 'expiresAt'> & { expiresAt?: number };

/** "This subject's permissions changed at `at`": tokens issued before it must be refreshed. */
export interface RefreshMarker {
  sub: string;
  at: number;
  expiresAt: number;
}

export type RevocationVerdict = { revoked: RevocationType | 'store_unavailable' } | { revoked: null; refresh: boolean };

export interface RevocationClaims {
  jti?: unknown;
  sid?: unknown;
  sub?: unknown;
  iat?: unknown;
}

export interface RevocationStatus {
  /** The backing store is reachable and the mirror is in sync with it. */
  up: boolean;
  /** Seconds since the mirror was last known to be in sync (0 while up). */
  stalenessSeconds: number;
  /** Synced at least once since this replica started. */
  synced: boolean;
  /** Synced at least once and not staler than `maxStalenessSeconds`. */
  ready: boolean;
  /** Staler than `failClosedAfterSeconds`: every token is refused (revocation_unavailable). */
  failingClosed: boolean;
  entries: number;
}

export interface RevocationStore {
  /** Load (file) or connect and resynchronise (redis). Redis rejects after `redis.timeoutSeconds`. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Synchronous, from the in-memory mirror. Non-string values are ignored: verification refuses such tokens (pipeline/claims.ts). */
  check(claims: RevocationClaims): RevocationVerdict;
  /**
   * Resolves only once the entry is durable in the store (and applied to this replica's mirror).
   * RevocationStoreUnavailableError: not applied, ever. RevocationOutcomeUnknownError: may be applied.
   */
  revoke(entry: RevocationInput): Promise<RevocationEntry>;
  /** True if an entry existed and was removed. */
  unrevoke(type: RevocationType, value: string): Promise<boolean>;
  /** Live (unexpired) entries. */
  list(): RevocationEntry[];
  /** Live refresh markers, for the admin API. */
  listRefreshMarkers(): RefreshMarker[];
  /** `at` is epoch seconds, default now. */
  markRefresh(sub: string, at?: number): Promise<RefreshMarker>;
  status(): RevocationStatus;
  /**
   * `listener(sub)` on every change to a subject as a whole (`sub` revocation, refresh marker), local or
   * from another replica; `listener(null)` when changes may have been missed. Returns the unsubscribe.
   */
  onSubjectChange(listener: (sub: string | null) => void): () => void;
  /**
   * Present when every replica shares the store (Redis): sets `key` until `expiresAtMs` unless it is
   * set already, atomically; resolves true when it was absent. Rejects when the store cannot answer.
   * DPoP replay detection across replicas (src/pipeline/dpop-replay.ts).
   */
  readonly claimOnce?: ((key: string, expiresAtMs: number) => Promise<boolean>) | undefined;
}

/** The store could not make a change durable; the change was not applied. */
export class RevocationStoreUnavailableError extends Error {
  override readonly name = 'RevocationStoreUnavailableError';
}

/**
 * The store did not answer in time after the change was sent: it may have been stored (before its
 * deadline; never later). Not "unavailable": that answer promises nothing was applied.
 */
export class RevocationOutcomeUnknownError extends Error {
  override readonly name = 'RevocationOutcomeUnknownError';
}

/** The caller asked for something the store refuses (empty value, expiry in the past...). */
export class RevocationInputError extends Error {
  override readonly name = 'RevocationInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
