import { describe, expect, it } from 'vitest';
import { principalFromPeer } from '../../src/policy/index.js';
import { compilePrincipals, firstUriSan } from '../../src/policy/peer.js';
import { edtechPolicy, fixture, request } from './helpers.js';

// Envoy sends `source.certificate` as the URL-encoded PEM (include_peer_certificate: true).
const envoyEncoded = (pem: string) => encodeURIComponent(pem);
const SPIFFE = 'spiffe://cluster.local/ns/edge/sa/gateway';

describe('principalFromPeer', () => {
  const spiffeCert = fixture('workload-spiffe.pem');
  const dnsOnlyCert = fixture('dns-only.pem');

  it('prefers the principal Envoy computed', () => {
    expect(principalFromPeer({ principal: 'spiffe://a/b', certificate: envoyEncoded(spiffeCert) })).toBe('spiffe://a/b');
  });

  it('reads the URI SAN of a URL-encoded certificate, skipping the DNS SAN before it', () => {
    expect(envoyEncoded(spiffeCert)).toContain('%0A'); // really encoded, as on the wire
    expect(principalFromPeer({ certificate: envoyEncoded(spiffeCert) })).toBe(SPIFFE);
  });

  it('an empty principal falls back to the certificate', () => {
    expect(principalFromPeer({ principal: '', certificate: envoyEncoded(spiffeCert) })).toBe(SPIFFE);
  });

  it('a certificate without a URI SAN gives no principal', () => {
    expect(principalFromPeer({ certificate: envoyEncoded(dnsOnlyCert) })).toBeUndefined();
  });

  it('a SAN crafted to look like a list is read as one value, never split', () => {
    // Node renders it as URI:"urn:example:a\u002c URI:spiffe://evil/sa/x", URI:spiffe://cluster.local/ns/x/sa/y
    expect(principalFromPeer({ certificate: envoyEncoded(fixture('san-injection.pem')) })).toBe('urn:example:a, URI:spiffe://evil/sa/x');
  });

  it('garbage gives no principal instead of throwing', () => {
    expect(principalFromPeer({})).toBeUndefined();
    expect(principalFromPeer({ certificate: '%E0%A4%A' })).toBeUndefined();
    expect(
      principalFromPeer({ certificate: envoyEncoded('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n') }),
    ).toBeUndefined();
  });

  it('the certificate principal opens the gateway-only route', () => {
    const principal = principalFromPeer({ certificate: envoyEncoded(spiffeCert) });
    const decision = edtechPolicy().authorize(request('POST', '/payments/charge', principal === undefined ? {} : { principal }), {
      provider: 'idp',
      claims: { sub: 'u' },
    });
    expect(decision).toEqual({ allowed: true, ruleId: 'payments', reason: 'allowed', status: 'ok' });
  });
});

describe('firstUriSan, on the SAN text node renders', () => {
  it.each([
    // node JSON-quotes a value holding a separator: an escaped quote inside does not end it
    ['URI:"urn:a\\"b\\u002c c", URI:spiffe://x/sa/y', 'urn:a"b, c'],
    // a quoted entry of another type is skipped whole, and the next one read
    ['DNS:"a\\u002cb.example.com", URI:spiffe://x/sa/y', 'spiffe://x/sa/y'],
    ['DNS:"a\\"b", DNS:c.example.com, URI:spiffe://x/sa/y', 'spiffe://x/sa/y'],
    ['DNS:a.example.com, IP Address:10.0.0.1', undefined],
  ])('%s gives %s', (san, principal) => {
    expect(firstUriSan(san)).toBe(principal);
  });
});

describe('compilePrincipals', () => {
  it('admits a principal under any one of several prefixes, and only those', () => {
    const compiled = compilePrincipals(['spiffe://c/ns/a/*', 'spiffe://c/ns/b/*', 'spiffe://c/ns/x/sa/exact']);
    if (!compiled.ok) throw new Error(compiled.message);
    expect(['spiffe://c/ns/a/sa/1', 'spiffe://c/ns/b/sa/2', 'spiffe://c/ns/x/sa/exact'].map(compiled.matches)).toEqual([true, true, true]);
    expect(['spiffe://c/ns/ab/sa/1', 'spiffe://c/ns/x/sa/exact2', 'spiffe://c/ns/b'].map(compiled.matches)).toEqual([false, false, false]);
  });

  it.each([
    ['', 'would match any workload'],
    ['*', 'would match any workload'],
    ['/*', 'would match any workload'],
    ['spiffe://c/ns/edge*', '"*" is only allowed as a final "/*"'],
    ['spiffe://c/*/sa/x', '"*" is only allowed as a final "/*"'],
    ['spiffe://c/ns/*/*', '"*" is only allowed as a final "/*"'],
  ])('refuses %j, naming its index', (pattern, message) => {
    const compiled = compilePrincipals(['spiffe://c/ns/ok/sa/x', pattern]);
    expect(compiled.ok).toBe(false);
    if (compiled.ok) return;
    expect(compiled.index).toBe(1);
    expect(compiled.message).toContain(message);
  });
});
