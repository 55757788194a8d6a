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
