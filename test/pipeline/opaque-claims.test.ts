/**
 * The checks on an introspection response that said `active: true` (RFC 7662): the JWT rules, with
 * `iss` and `aud` optional, run on every Check against the provider's config.
 */
import { describe, expect, it } from 'vitest';
import { providerSchema } from '../../src/config/providers.js';
import { introspectedClaimsFailure } from '../../src/pipeline/opaque-claims.js';

const NOW = 1_800_000_000;
const provider = (extra: Record<string, unknown> = {}) =>
  providerSchema.parse({
    name: 'as',
    introspection: { url: 'https://as.example/introspect', clientId: 'tollgate', clientSecret: { file: 'secret' } },
    audiences: ['api'],
    clockSkewSeconds: 30,
    ...extra,
  });
const failure = (claims: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  introspectedClaimsFailure({ sub: 'u1', exp: NOW + 300, ...claims }, provider(extra), NOW);

describe('introspectedClaimsFailure', () => {
  it('takes any iss when the provider names no issuer, and only its own when it does', () => {
    expect(failure({ iss: 'https://elsewhere.example' })).toBeUndefined();
    expect(failure({ iss: 'https://elsewhere.example' }, { issuer: 'https://as.example' })).toBe('unknown_issuer');
    expect(failure({ iss: 'https://as.example' }, { issuer: 'https://as.example' })).toBeUndefined();
  });

  it('takes an answer without aud, and refuses one whose aud names no configured audience', () => {
    expect(failure({})).toBeUndefined();
    expect(failure({ aud: 'api' })).toBeUndefined();
    expect(failure({ aud: 'web' })).toBe('invalid_audience');
  });

  it.each([
    ['iat', 'x'],
    ['nbf', 'x'],
    ['exp', String(NOW + 300)],
  ])('refuses a %s that is not a number as invalid_claims', (claim, value) => {
    expect(failure({ [claim]: value })).toBe('invalid_claims');
  });

  it('with maxTokenAgeSeconds, refuses an iat further ahead than the skew (and not one at it)', () => {
    const maxAge = { maxTokenAgeSeconds: 3600 };
    expect(failure({ iat: NOW + 30 }, maxAge)).toBeUndefined();
    expect(failure({ iat: NOW + 31 }, maxAge)).toBe('invalid_claims');
    expect(failure({}, maxAge)).toBeUndefined();
    // Without maxTokenAgeSeconds, iat is not read.
    expect(failure({ iat: NOW + 31 })).toBeUndefined();
  });

  it('answers the time failure first: an expired answer with an iat ahead is expired', () => {
    expect(failure({ iat: NOW + 31, exp: NOW - 31 }, { maxTokenAgeSeconds: 3600 })).toBe('expired');
  });
});
