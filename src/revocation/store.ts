import type { Deps } from '../observability/deps.js';
import type { Backend } from './backend.js';
import type { RevocationConfig } from './config.js';
import { buildEntry, buildRefreshMarker } from './entries.js';
import { createRevocationMetrics, type RevocationMetrics } from './metrics.js';
import type { Mirror } from './mirror.js';
import {
  errorMessage,
  isRevocationType,
  RevocationInputError,
  type RefreshMarker,
  type RevocationClaims,
  type RevocationEntry,
  type RevocationInput,
  type RevocationStatus,
  type RevocationStore,
  type RevocationType,
  type RevocationVerdict,
} from './types.js';

/** How often expired entries are dropped from the mirror (and the file log considered for compaction). */
const SWEEP_INTERVAL_MS = 30_000;

/** The RevocationStore every config gets: validation, the mirror, metrics and timers over one Backend. */
export class MirroredStore implements RevocationStore {
  private readonly metrics: RevocationMetrics;
  private sweepTimer: NodeJS.Timeout | undefined;
  private started = false;
  readonly claimOnce: RevocationStore['claimOnce'];

  constructor(
    private readonly backend: Backend,
    private readonly mirror: Mirror,
    private readonly config: RevocationConfig,
    private readonly deps: Deps,
  ) {
    this.claimOnce = backend.claimOnce?.bind(backend);
    this.metrics = createRevocationMetrics({ counts: () => mirror.counts(), status: () => this.status() });
  }

  async start(): Promise<void> {
    await this.backend.start();
    this.mirror.sweep(this.deps.clock.now());
    this.started = true;
    this.metrics.register(this.deps.registry);
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.started = false;
    this.metrics.unregister(this.deps.registry);
    await this.backend.stop();
  }

  check(claims: RevocationClaims): RevocationVerdict {
    const now = this.deps.clock.now();
    const verdict = this.mirror.check(claims, now);
    if (verdict.revoked !== null) {
      this.metrics.denied(verdict.revoked);
      return { revoked: verdict.revoked };
    }
    if (this.failingClosed(this.stalenessSeconds(now))) {
      this.metrics.denied('store_unavailable');
      return { revoked: 'store_unavailable' };
    }
    return { revoked: null, refresh: verdict.refresh };
  }

  async revoke(input: RevocationInput): Promise<RevocationEntry> {
    if (!isRevocationType(input.type)) throw new RevocationInputError('type', 'must be jti, sid or sub');
    const entry = buildEntry(input, this.deps.clock, this.config.defaultTtlSeconds);
    await this.backend.write({ op: 'revoke', entry });
    return { ...entry };
  }

  async unrevoke(type: RevocationType, value: string): Promise<boolean> {
    if (!isRevocationType(type)) throw new RevocationInputError('type', 'must be jti, sid or sub');
    return this.backend.write({ op: 'unrevoke', type, value });
  }

  list(): RevocationEntry[] {
    return this.mirror.list(this.deps.clock.now()).map((entry) => ({ ...entry }));
  }

  listRefreshMarkers(): RefreshMarker[] {
    return this.mirror.refreshMarkers(this.deps.clock.now()).map((marker) => ({ ...marker }));
  }

  async markRefresh(sub: string, at?: number): Promise<RefreshMarker> {
    const marker = buildRefreshMarker(sub, at, this.deps.clock, this.config.defaultTtlSeconds);
    await this.backend.write({ op: 'refresh', marker });
    return { ...marker };
  }

  onSubjectChange(listener: (sub: string | null) => void): () => void {
    return this.mirror.onSubjectChange(listener);
  }

  status(): RevocationStatus {
    const stalenessSeconds = this.stalenessSeconds(this.deps.clock.now());
    return {
      up: this.backend.health().up,
      stalenessSeconds,
      synced: this.started,
      ready: this.started && stalenessSeconds <= this.config.maxStalenessSeconds,
      failingClosed: this.failingClosed(stalenessSeconds),
      entries: this.mirror.size,
    };
  }

  private failingClosed(stalenessSeconds: number): boolean {
    const failAfter = this.config.failClosedAfterSeconds;
    return failAfter !== undefined && stalenessSeconds > failAfter;
  }

  private stalenessSeconds(now: number): number {
    const since = this.backend.health().staleSinceMs;
    return since === null ? 0 : Math.max(0, (now - since) / 1000);
  }

  private async sweep(): Promise<void> {
    const removed = this.mirror.sweep(this.deps.clock.now());
    if (removed > 0) this.deps.logger.debug({ removed }, 'revocation: expired entries swept');
    try {
      await this.backend.maintain();
    } catch (err) {
      this.deps.logger.error({ err: errorMessage(err) }, 'revocation: maintenance failed');
    }
  }
}
