import { describe, expect, it } from 'vitest';
import { ContextRoleCache, type RolesAnswer } from '../../src/context/cache.js';
import { sourceUrl } from '../../src/context/http-source.js';
import { ManualClock } from '../../src/util/clock.js';

const limits = { maxEntries: 1000, maxBytes: 1 << 20, cacheSeconds: 60, negativeCacheSeconds: 10 };
const answer =
  (...roles: string[]) =>
  async (): Promise<RolesAnswer> => ({ ok: true, roles });
const noHit = () => {};
const key = (sub: string, context: string, id: string, provider = 'idp') => ({ provider, sub, context, id });

describe('ContextRoleCache', () => {
  it('keys on the (sub, context, id) tuple: parts that would join to the same string stay apart', async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    await cache.get(key('alice', 'course', '1:teacher'), answer('teacher'), noHit);
    // Joined with ":" (or any delimiter) these two would be one key; as a tuple they are two questions.
    expect(await cache.get(key('alice:course', '1', 'teacher'), answer(), noHit)).toEqual({ ok: true, roles: [] });
    expect(await cache.get(key('alice', 'course:1', 'teacher'), answer(), noHit)).toEqual({ ok: true, roles: [] });
    expect(await cache.get(key('alice', 'course', '1:teacher'), answer('other'), noHit)).toEqual({ ok: true, roles: ['teacher'] });
  });

  it('is bounded by count and by bytes, evicting the least recently used', async () => {
    const byCount = new ContextRoleCache({ ...limits, maxEntries: 3 }, new ManualClock());
    for (let i = 0; i < 10; i++) await byCount.get(key('s', 'course', String(i)), answer('ta'), noHit);
    expect(byCount.size).toBe(3);

    const byBytes = new ContextRoleCache({ ...limits, maxBytes: 2048 }, new ManualClock());
    for (let i = 0; i < 100; i++) await byBytes.get(key(`subject-${i}`, 'course', String(i)), answer('x'.repeat(200)), noHit);
    expect(byBytes.bytes).toBeLessThanOrEqual(2048);
    expect(byBytes.size).toBeGreaterThan(0);
    expect(byBytes.size).toBeLessThan(100);
  });

  it('drops one subject on invalidation and keeps the others', async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    await cache.get(key('alice', 'course', '1'), answer('ta'), noHit);
    await cache.get(key('alice', 'course', '2'), answer('ta'), noHit);
    await cache.get(key('bob', 'course', '1'), answer('ta'), noHit);
    cache.dropSubject('alice');
    expect(cache.size).toBe(1);
    let hits = 0;
    await cache.get(key('bob', 'course', '1'), answer('none'), () => hits++);
    expect(hits).toBe(1);
    expect(await cache.get(key('alice', 'course', '1'), answer('teacher'), noHit)).toEqual({ ok: true, roles: ['teacher'] });
  });

  it('does not keep an answer whose call was under way when the subject was invalidated', async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    let finish!: (a: RolesAnswer) => void;
    const inFlight = cache.get(key('alice', 'course', '1'), () => new Promise((resolve) => (finish = resolve)), noHit);
    cache.dropSubject('alice');
    finish({ ok: true, roles: ['teacher'] });
    await inFlight;
    expect(cache.size).toBe(0);
  });

  it("keeps one provider's answer from another provider's subject of the same name, and drops both on the subject's change", async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    await cache.get(key('123', 'course', '42', 'idp-a'), answer('teacher'), noHit);
    expect(await cache.get(key('123', 'course', '42', 'idp-b'), answer(), noHit)).toEqual({ ok: true, roles: [] });
    cache.dropSubject('123');
    expect(cache.size).toBe(0);
  });
});

/** The cache's index (subject → provider → context → id) as plain objects: what it still holds, empty maps included. */
function indexOf(cache: ContextRoleCache): unknown {
  const plain = (value: unknown): unknown =>
    value instanceof Map ? Object.fromEntries([...value].map(([name, inner]) => [name, plain(inner)])) : 'slot';
  return plain(cache['index']);
}

describe('ContextRoleCache: lifetimes, bytes and the index', () => {
  it('refreshes an expired answer with one upstream call however many checks ask, and keeps the new answer', async () => {
    const clock = new ManualClock(0);
    const cache = new ContextRoleCache(limits, clock);
    let calls = 0;
    let hits = 0;
    const fetch = async (): Promise<RolesAnswer> => {
      calls++;
      return { ok: true, roles: ['ta'] };
    };
    const ask = () => cache.get(key('alice', 'course', '1'), fetch, () => hits++);
    await ask();
    clock.advance(61_000);
    await Promise.all([ask(), ask(), ask()]);
    expect(calls).toBe(2);
    await ask();
    expect([calls, hits]).toEqual([2, 1]);
  });

  it('keeps an answer with roles cacheSeconds and one without negativeCacheSeconds, not a millisecond more', async () => {
    const clock = new ManualClock(0);
    const cache = new ContextRoleCache(limits, clock);
    let hits = 0;
    const onHit = () => hits++;
    await cache.get(key('alice', 'course', '1'), answer('ta'), onHit);
    await cache.get(key('alice', 'course', '2'), answer(), onHit);
    clock.advance(9_999);
    await cache.get(key('alice', 'course', '1'), answer('other'), onHit);
    await cache.get(key('alice', 'course', '2'), answer('other'), onHit);
    expect(hits).toBe(2);
    clock.advance(1); // 10 s: the answer without roles is gone
    expect(await cache.get(key('alice', 'course', '2'), answer('new'), onHit)).toEqual({ ok: true, roles: ['new'] });
    clock.advance(49_999); // 59.999 s after the first answer: still cached
    expect(await cache.get(key('alice', 'course', '1'), answer('other'), onHit)).toEqual({ ok: true, roles: ['ta'] });
    clock.advance(1); // 60 s
    expect(await cache.get(key('alice', 'course', '1'), answer('other'), onHit)).toEqual({ ok: true, roles: ['other'] });
  });

  it('keeps nothing, and indexes nothing, for an answer with a lifetime of 0', async () => {
    const cache = new ContextRoleCache({ ...limits, negativeCacheSeconds: 0 }, new ManualClock());
    await cache.get(key('alice', 'course', '1'), answer(), noHit);
    expect(cache.size).toBe(0);
    expect(indexOf(cache)).toEqual({});
  });

  it('counts each entry as 128 bytes plus its strings as UTF-16', async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    await cache.get(key('alice', 'course', '42', 'idp'), answer('ta', 'grader'), noHit);
    expect(cache.bytes).toBe(128 + 2 * ('idp'.length + 'alice'.length + 'course'.length + '42'.length + 'ta'.length + 'grader'.length));
  });

  it('unindexes what it evicts, and prunes the maps it empties, keeping their other entries', async () => {
    const cache = new ContextRoleCache({ ...limits, maxEntries: 1 }, new ManualClock());
    const keep = async (k: ReturnType<typeof key>) => cache.get(k, answer('ta'), noHit);
    await keep(key('s', 'c1', '1', 'p1'));
    expect(indexOf(cache)).toEqual({ s: { p1: { c1: { 1: 'slot' } } } });
    await keep(key('s', 'c1', '2', 'p1')); // evicts id 1 beside id 2
    expect(indexOf(cache)).toEqual({ s: { p1: { c1: { 2: 'slot' } } } });
    await keep(key('s', 'c2', '1', 'p1')); // empties context c1 beside c2
    expect(indexOf(cache)).toEqual({ s: { p1: { c2: { 1: 'slot' } } } });
    await keep(key('s', 'c2', '1', 'p2')); // empties provider p1 beside p2
    expect(indexOf(cache)).toEqual({ s: { p2: { c2: { 1: 'slot' } } } });
    await keep(key('t', 'c2', '1', 'p2')); // empties subject s
    expect(indexOf(cache)).toEqual({ t: { p2: { c2: { 1: 'slot' } } } });
    cache.dropAll();
    expect([cache.size, indexOf(cache)]).toEqual([0, {}]);
  });

  it('settles a call under way when the subject was invalidated and asked again under another provider or context, keeping neither answer', async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    const finishers: ((a: RolesAnswer) => void)[] = [];
    const slow = () => new Promise<RolesAnswer>((resolve) => finishers.push(resolve));
    const a = cache.get(key('s', 'course', '1', 'idp-a'), slow, noHit);
    const b = cache.get(key('s', 'course', '1', 'idp-b'), slow, noHit);
    cache.dropSubject('s');
    await cache.get(key('s', 'group', '1', 'idp-b'), answer('member'), noHit);
    for (const finish of finishers) finish({ ok: true, roles: ['teacher'] });
    expect(await Promise.all([a, b])).toEqual([
      { ok: true, roles: ['teacher'] },
      { ok: true, roles: ['teacher'] },
    ]);
    expect(indexOf(cache)).toEqual({ s: { 'idp-b': { group: { 1: 'slot' } } } });
  });
});

describe('sourceUrl', () => {
  it('percent-encodes every placeholder value, so a value cannot add a path segment or a query', () => {
    expect(
      sourceUrl('http://d/{provider}/{sub}/{context}/{id}?x=1', { provider: 'i/p', sub: '../admin', context: 'c/d', id: '1?all=true#' }),
    ).toBe('http://d/i%2Fp/..%2Fadmin/c%2Fd/1%3Fall%3Dtrue%23?x=1');
  });

  it('refuses a value that would fill a path segment as "." or "..", alone or with its neighbours; the query may carry them', () => {
    const values = { provider: 'idp', sub: 'u', context: 'course', id: '42' };
    const url = (template: string, changes: Partial<typeof values>) => sourceUrl(template, { ...values, ...changes });
    expect(url('http://d/c/{id}/members/{sub}/roles', { sub: '..' })).toBeUndefined();
    expect(url('http://d/c/{id}/members/{sub}/roles', { sub: '.' })).toBeUndefined();
    expect(url('http://d/c/{id}/members/{sub}', { sub: '..' })).toBeUndefined();
    expect(url('http://d/c/{context}{id}/roles', { context: '.', id: '.' })).toBeUndefined();
    expect(url('http://d/c/{id}/members/{sub}/roles', { sub: '...' })).toBe('http://d/c/42/members/.../roles');
    expect(url('http://d/roles?sub={sub}', { sub: '..' })).toBe('http://d/roles?sub=..');
    expect(url('http://d/m/{sub}', { sub: '\ud800' })).toBeUndefined();
  });
});
