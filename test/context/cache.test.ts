import { describe, expect, it } from 'vitest';
import { ContextRoleCache, type RolesAnswer } from '../../src/context/cache.js';
import { sourceUrl } from '../../src/context/http-source.js';
import { ManualClock } from '../../src/util/clock.js';

const limits = { maxEntries: 1000, maxBytes: 1 << 20, cacheSeconds: 60, negativeCacheSeconds: 10 };
const answer =
  (...roles: string[]) =>
  async (): Promise<RolesAnswer> => ({ ok: true, roles });
const noHit = () => {};

describe('ContextRoleCache', () => {
  it('keys on the (sub, context, id) tuple: parts that would join to the same string stay apart', async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    await cache.get('alice', 'course', '1:teacher', answer('teacher'), noHit);
    // Joined with ":" (or any delimiter) these two would be one key; as a tuple they are two questions.
    expect(await cache.get('alice:course', '1', 'teacher', answer(), noHit)).toEqual({ ok: true, roles: [] });
    expect(await cache.get('alice', 'course:1', 'teacher', answer(), noHit)).toEqual({ ok: true, roles: [] });
    expect(await cache.get('alice', 'course', '1:teacher', answer('other'), noHit)).toEqual({ ok: true, roles: ['teacher'] });
  });

  it('is bounded by count and by bytes, evicting the least recently used', async () => {
    const byCount = new ContextRoleCache({ ...limits, maxEntries: 3 }, new ManualClock());
    for (let i = 0; i < 10; i++) await byCount.get('s', 'course', String(i), answer('ta'), noHit);
    expect(byCount.size).toBe(3);

    const byBytes = new ContextRoleCache({ ...limits, maxBytes: 2048 }, new ManualClock());
    for (let i = 0; i < 100; i++) await byBytes.get(`subject-${i}`, 'course', String(i), answer('x'.repeat(200)), noHit);
    expect(byBytes.bytes).toBeLessThanOrEqual(2048);
    expect(byBytes.size).toBeGreaterThan(0);
    expect(byBytes.size).toBeLessThan(100);
  });

  it('drops one subject on invalidation and keeps the others', async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    await cache.get('alice', 'course', '1', answer('ta'), noHit);
    await cache.get('alice', 'course', '2', answer('ta'), noHit);
    await cache.get('bob', 'course', '1', answer('ta'), noHit);
    cache.dropSubject('alice');
    expect(cache.size).toBe(1);
    let hits = 0;
    await cache.get('bob', 'course', '1', answer('none'), () => hits++);
    expect(hits).toBe(1);
    expect(await cache.get('alice', 'course', '1', answer('teacher'), noHit)).toEqual({ ok: true, roles: ['teacher'] });
  });

  it('does not keep an answer whose call was under way when the subject was invalidated', async () => {
    const cache = new ContextRoleCache(limits, new ManualClock());
    let finish!: (a: RolesAnswer) => void;
    const inFlight = cache.get('alice', 'course', '1', () => new Promise((resolve) => (finish = resolve)), noHit);
    cache.dropSubject('alice');
    finish({ ok: true, roles: ['teacher'] });
    await inFlight;
    expect(cache.size).toBe(0);
  });
});

describe('sourceUrl', () => {
  it('percent-encodes every placeholder value, so a value cannot add a path segment or a query', () => {
    expect(sourceUrl('http://d/{sub}/{context}/{id}?x=1', { sub: '../admin', context: 'c/d', id: '1?all=true#' })).toBe(
      'http://d/..%2Fadmin/c%2Fd/1%3Fall%3Dtrue%23?x=1',
    );
  });
});
