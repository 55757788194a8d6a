import { describe, expect, it } from 'vitest';
import { parseXfcc, peerFromXfcc } from '../../../src/server/authz-http/xfcc.js';

describe('X-Forwarded-Client-Cert', () => {
  it("reads Envoy's format: quoted values with separators and escapes, several elements", () => {
    const header =
      'By=spiffe://cluster.local/ns/edge/sa/proxy;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=spiffe://cluster.local/ns/web/sa/client;DNS=client.example.com,' +
      'By=spiffe://cluster.local/ns/edge/sa/gateway;Subject="CN=a \\"quoted\\" name, O=x;y";URI=spiffe://cluster.local/ns/edge/sa/proxy';
    const elements = parseXfcc(header);
    expect(elements).toHaveLength(2);
    expect(elements![0]).toContainEqual(['dns', 'client.example.com']);
    expect(elements![1]).toContainEqual(['subject', 'CN=a "quoted" name, O=x;y']);
    expect(peerFromXfcc([header])).toEqual({ principal: 'spiffe://cluster.local/ns/edge/sa/proxy', certificate: undefined });
  });

  it('takes the element the nearest proxy added, never one the client prepended', () => {
    const forged = 'URI=spiffe://cluster.local/ns/edge/sa/gateway';
    const real = 'By=spiffe://x/proxy;URI=spiffe://cluster.local/ns/web/sa/frontend';
    expect(peerFromXfcc([`${forged},${real}`]).principal).toBe('spiffe://cluster.local/ns/web/sa/frontend');
    // The same when the header arrived as two lines.
    expect(peerFromXfcc([forged, real]).principal).toBe('spiffe://cluster.local/ns/web/sa/frontend');
    // The nearest hop's client had no URI SAN: no identity, not the earlier element's.
    expect(peerFromXfcc([`${forged},By=spiffe://x/proxy;DNS=host.example.com`])).toEqual({});
  });

  it('passes the URL-encoded certificate on, as Envoy sends source.certificate', () => {
    const cert = '-----BEGIN%20CERTIFICATE-----%0AMIIB...%0A-----END%20CERTIFICATE-----%0A';
    expect(peerFromXfcc([`Hash=ab;Cert="${cert}"`])).toEqual({ principal: undefined, certificate: cert });
  });

  it('yields no identity for a malformed header', () => {
    for (const header of [
      '',
      'URI',
      'URI=spiffe://a;',
      'URI="spiffe://a',
      'URI=spiffe://a"b',
      'U RI=x',
      'URI=a=b',
      'URI="a\\x"',
      'URI=a;;DNS=b',
      'URI=a,',
      ',URI=a',
    ]) {
      expect(parseXfcc(header), header).toBeUndefined();
      expect(peerFromXfcc([header]), header).toEqual({});
    }
    expect(peerFromXfcc([])).toEqual({});
  });
});
