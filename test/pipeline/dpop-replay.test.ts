/**
 * The DPoP replay guard on its own: a proof is accepted once while it could still be accepted at all,
 * per client key and `jti`; memory is swept as proofs age out and capped; a shared store decides for
 * every replica and fails closed.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../src/pipeline/dpop-replay.js';

const START_MS = 1_800_000_000_000;

function guard(maxEntries?: number) {
  let nowMs = START_MS;
  const replay = new ReplayGuard(() => nowMs, maxEntries);
  return { replay, at: (seconds: number) => (nowMs = START_MS + seconds * 1000) };
}

/** A proof acceptable for 90 s from the start. */
const UNTIL = START_MS / 1000 + 90;

describe('DPoP replay guard', () => {
  it('accepts a proof once; another jti, or the same jti from another key, is another proof', () => {
    const { replay } = guard();
    expect(replay.claim('key-a', 'j1', UNTIL, undefined)).toBe('fresh');
    expect(replay.claim('key-a', 'j1', UNTIL, undefined)).toBe('replayed');
    expect(replay.claim('key-a', 'j2', UNTIL, undefined)).toBe('fresh');
    expect(replay.claim('key-b', 'j1', UNTIL, undefined)).toBe('fresh');
  });

  it('never lets a key and jti run together into another pair', () => {
    const { replay } = guard();
    expect(replay.claim('ab', 'c', UNTIL, undefined)).toBe('fresh');
    expect(replay.claim('a', 'bc', UNTIL, undefined)).toBe('fresh');
  });

  it('remembers a proof until it is too old to be accepted, then forgets it', () => {
    const { replay, at } = guard();
    expect(replay.claim('key', 'j', UNTIL, undefined)).toBe('fresh');
    at(89.9);
    expect(replay.claim('key', 'j', UNTIL, undefined)).toBe('replayed');
    expect(replay.size).toBe(1);
    at(90); // acceptable until 90 s: from then on the iat check refuses it, so it need not be kept
    expect(replay.claim('key', 'other', UNTIL + 90, undefined)).toBe('fresh');
    expect(replay.size).toBe(1); // the expired entry was swept, the new one kept
    expect(replay.claim('key', 'j', UNTIL + 90, undefined)).toBe('fresh');
  });

  it('forgets an aged-out proof even when the sweep stops before it (behind a longer-lived one)', () => {
    const { replay, at } = guard();
    expect(replay.claim('key', 'long', UNTIL + 100, undefined)).toBe('fresh');
    expect(replay.claim('key', 'short', UNTIL, undefined)).toBe('fresh');
    at(90); // `short` is past its window, but sits behind `long`, which the sweep stops at
    expect(replay.claim('key', 'short', UNTIL + 90, undefined)).toBe('fresh');
    expect(replay.claim('key', 'long', UNTIL + 100, undefined)).toBe('replayed');
  });

  it('without a shared store, refuses (unavailable) rather than accept a proof it cannot remember', () => {
    const { replay } = guard(2);
    expect(replay.claim('key', 'j1', UNTIL, undefined)).toBe('fresh');
    expect(replay.claim('key', 'j2', UNTIL, undefined)).toBe('fresh');
    expect(replay.claim('key', 'j3', UNTIL, undefined)).toBe('unavailable');
    expect(replay.size).toBe(2);
  });

  it('with a shared store, lets it decide (once for every replica) and fails closed when it cannot answer', async () => {
    const { replay } = guard(1);
    const calls: Array<[string, number]> = [];
    const fresh = (key: string, expiresAtMs: number) => (calls.push([key, expiresAtMs]), Promise.resolve(true));
    expect(await replay.claim('key', 'j1', UNTIL, fresh)).toBe('fresh');
    // The key is the shared store's format: replicas of two versions (a rolling upgrade) must agree on it.
    const storedKey = createHash('sha256').update('key\nj1').digest().subarray(0, 16).toString('base64url');
    expect(calls).toEqual([[storedKey, UNTIL * 1000]]);
    // Another replica already holds it.
    expect(await replay.claim('key', 'j2', UNTIL, () => Promise.resolve(false))).toBe('replayed');
    // The memory cap is full (1): only the shortcut is lost, the store still decides.
    expect(await replay.claim('key', 'j3', UNTIL, fresh)).toBe('fresh');
    expect(await replay.claim('key', 'j4', UNTIL, () => Promise.reject(new Error('redis down')))).toBe('unavailable');
    // Seen in this replica's memory: refused without asking the store.
    expect(await replay.claim('key', 'j1', UNTIL, fresh)).toBe('replayed');
  });
});
