import type { StoreOp } from './entries.js';
import type { RefreshMarker, RevocationClaims, RevocationEntry, RevocationType } from './types.js';

export type SubjectChangeListener = (sub: string | null) => void;

export interface MirrorVerdict {
  revoked: RevocationType | null;
  refresh: boolean;
}

/**
 * The in-memory copy of the revocation set that every Check reads. One Map per type keeps each lookup
 * O(1); entries are the plain objects the stores already hold, nothing is duplicated per lookup.
 * Expired entries are ignored on read and removed by sweep().
 */
export class Mirror {
  private readonly entries: Record<RevocationType, Map<string, RevocationEntry>> = {
    jti: new Map(),
    sid: new Map(),
    sub: new Map(),
  };
  private readonly refresh = new Map<string, RefreshMarker>();
  private readonly subjectListeners = new Set<SubjectChangeListener>();

  /**
   * Called for every change that concerns a subject as a whole — a `sub` revocation or unrevocation, a
   * refresh marker — whether made here or received from another replica; with null when the mirror was
   * replaced (a resync may hide changes). Returns the unsubscribe.
   */
  onSubjectChange(listener: SubjectChangeListener): () => void {
    this.subjectListeners.add(listener);
    return () => this.subjectListeners.delete(listener);
  }

  /** Returns whether the op changed anything live (for unrevoke: whether a live entry was removed). */
  apply(op: StoreOp, nowMs: number): boolean {
    const sub =
      op.op === 'refresh' ? op.marker.sub : op.op === 'revoke' ? op.entry.type === 'sub' && op.entry.value : op.type === 'sub' && op.value;
    if (typeof sub === 'string') for (const listener of this.subjectListeners) listener(sub);
    switch (op.op) {
      case 'revoke':
        this.entries[op.entry.type].set(op.entry.value, op.entry);
        return true;
      case 'unrevoke': {
        const map = this.entries[op.type];
        const existing = map.get(op.value);
        map.delete(op.value);
        return existing !== undefined && live(existing.expiresAt, nowMs);
      }
      case 'refresh':
        // Last write wins, as for entries, so every replica and the store agree on one marker.
        this.refresh.set(op.marker.sub, op.marker);
        return true;
    }
  }

  /** Replace everything at once (Redis resync); the caller re-applies ops that raced the snapshot. */
  replaceAll(entries: Iterable<RevocationEntry>, markers: Iterable<RefreshMarker>): void {
    for (const map of Object.values(this.entries)) map.clear();
    this.refresh.clear();
    for (const entry of entries) this.entries[entry.type].set(entry.value, entry);
    for (const marker of markers) this.refresh.set(marker.sub, marker);
    for (const listener of this.subjectListeners) listener(null);
  }

  check(claims: RevocationClaims, nowMs: number): MirrorVerdict {
    const { jti, sid, sub, iat } = claims;
    if (typeof jti === 'string' && this.liveEntry('jti', jti, nowMs)) return { revoked: 'jti', refresh: false };
    if (typeof sid === 'string' && this.liveEntry('sid', sid, nowMs)) return { revoked: 'sid', refresh: false };
    if (typeof sub !== 'string') return { revoked: null, refresh: false };
    // A token without a usable iat cannot prove it was issued after a cut-off, so the cut-off applies.
    const issuedAt = typeof iat === 'number' && Number.isFinite(iat) ? iat : -Infinity;
    const subEntry = this.liveEntry('sub', sub, nowMs);
    if (subEntry && issuedAt < (subEntry.notBefore ?? Infinity)) return { revoked: 'sub', refresh: false };
    const marker = this.refresh.get(sub);
    const refresh = marker !== undefined && live(marker.expiresAt, nowMs) && issuedAt < marker.at;
    return { revoked: null, refresh };
  }

  get(type: RevocationType, value: string, nowMs: number): RevocationEntry | undefined {
    return this.liveEntry(type, value, nowMs);
  }

  list(nowMs: number): RevocationEntry[] {
    this.sweep(nowMs);
    return [...this.entries.jti.values(), ...this.entries.sid.values(), ...this.entries.sub.values()];
  }

  refreshMarkers(nowMs: number): RefreshMarker[] {
    this.sweep(nowMs);
    return [...this.refresh.values()];
  }

  /** Drop expired entries and markers; O(n), run on a timer, never on the request path. */
  sweep(nowMs: number): number {
    let removed = 0;
    for (const map of [...Object.values(this.entries), this.refresh]) {
      for (const [value, item] of map) {
        if (!live(item.expiresAt, nowMs)) {
          map.delete(value);
          removed++;
        }
      }
    }
    return removed;
  }

  counts(): Record<RevocationType | 'refresh', number> {
    return {
      jti: this.entries.jti.size,
      sid: this.entries.sid.size,
      sub: this.entries.sub.size,
      refresh: this.refresh.size,
    };
  }

  get size(): number {
    return this.entries.jti.size + this.entries.sid.size + this.entries.sub.size;
  }

  private liveEntry(type: RevocationType, value: string, nowMs: number): RevocationEntry | undefined {
    const entry = this.entries[type].get(value);
    return entry !== undefined && live(entry.expiresAt, nowMs) ? entry : undefined;
  }
}

function live(expiresAt: number, nowMs: number): boolean {
  return nowMs < expiresAt * 1000;
}
