import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REASONS, type Reason } from '../src/reasons.js';

/** docs/policy.md is the public contract for reason names; these tests hold it equal to the catalogue. */
const POLICY = readFileSync(resolve(import.meta.dirname, '../docs/policy.md'), 'utf8');

/** The backticked names in the docs/policy.md paragraph that starts with `opening`. */
function namesAfter(opening: string): string[] {
  const start = POLICY.indexOf(opening);
  expect(start, `docs/policy.md paragraph starting "${opening}"`).toBeGreaterThanOrEqual(0);
  const paragraph = POLICY.slice(start, POLICY.indexOf('\n\n', start));
  return [...paragraph.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
}

const reasons = Object.keys(REASONS) as Reason[];
const where = (test: (r: (typeof REASONS)[Reason]) => boolean) => reasons.filter((r) => test(REASONS[r])).sort();

describe('reason catalogue', () => {
  it('lists in docs/policy.md every token and revocation reason, and nothing else', () => {
    expect(namesAfter('Token reasons:').sort()).toEqual(where((r) => r.stage === 'token' || r.stage === 'revocation'));
  });

  it('lists in docs/policy.md every policy reason, with the 401 one and the 403 ones where docs/policy.md says', () => {
    const policy = namesAfter('A requirement that needs a user and has no token answers 401');
    expect(policy.filter((n) => n !== 'missing_token').sort()).toEqual(where((r) => r.stage === 'policy'));
    expect(where((r) => r.stage === 'policy' && r.status === 401)).toEqual(['authentication_required']);
  });

  it('lists in docs/policy.md every request reason', () => {
    expect(namesAfter('Request reasons:').sort()).toEqual(where((r) => r.stage === 'request'));
  });

  it('names internal_error in docs/policy.md body description', () => {
    expect(where((r) => r.stage === 'internal')).toEqual(['internal_error']);
    expect(POLICY).toContain('"error": "unauthenticated"|"forbidden"|"internal_error"');
  });

  it('gives a Bearer error code exactly to the 401s that had a token (RFC 6750 §3.1)', () => {
    expect(where((r) => r.status === 401 && r.bearerError === null)).toEqual(['authentication_required', 'missing_token']);
    expect(where((r) => r.bearerError === 'invalid_request')).toEqual(['ambiguous_token']);
    expect(where((r) => r.status !== 401 && r.bearerError !== null)).toEqual([]);
  });

  it('keeps descriptions to fixed, header-safe text', () => {
    for (const r of reasons) expect(REASONS[r].description, r).toMatch(/^[a-z][ -~]*$/);
    for (const r of reasons) expect(REASONS[r].description, r).not.toContain('"');
  });
});
