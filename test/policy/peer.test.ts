import { describe, expect, it } from 'vitest';
import { principalFromPeer } from '../../src/policy/index.js';
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
