import type { StoreOp } from './entries.js';

/**
 * Where the revocation set lives. Every backend keeps the shared Mirror current; the store on top of
 * it (store.ts) owns validation, check(), metrics and timers, so a backend only moves bytes.
 */
export interface Backend {
  /** Fill the mirror from the durable copy; rejects if that is impossible. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Make `op` durable, then apply it to the mirror. Rejects with RevocationStoreUnavailableError when the
   * change could not be stored (then nothing was applied). Resolves whether a live entry changed.
   */
  write(op: StoreOp): Promise<boolean>;
  /** `staleSinceMs` is when the mirror was last known in sync, null while it is. */
  health(): { up: boolean; staleSinceMs: number | null };
  /** Housekeeping after each sweep (the file backend compacts here). */
  maintain(): Promise<void>;
  /** Shared stores only (Redis): set `key` until `expiresAtMs` if absent; true when it was absent. */
  claimOnce?(key: string, expiresAtMs: number): Promise<boolean>;
}
