import { describe, expect, it } from 'vitest';
import { criticalExtensionsUnderstood, decodeJws, looksLikeJws } from '../../src/pipeline/jws.js';

const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64url');
const json = (value: unknown) => b64(JSON.stringify(value));
const HEADER = json({ alg: 'ES256', kid: 'k' });
const PAYLOAD = json({ iss: 'https://idp.example', sub: 'u' });
const SIG = b64(Buffer.alloc(64, 1));

describe('decodeJws', () => {
  it('returns header, payload, the signed bytes exactly as sent, and the signature', () => {
    const result = decodeJws(`${HEADER}.${PAYLOAD}.${SIG}`);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.jws.header).toEqual({ alg: 'ES256', kid: 'k' });
    expect(result.jws.payload).toEqual({ iss: 'https://idp.example', sub: 'u' });
    expect(result.jws.signingInput.toString('latin1')).toBe(`${HEADER}.${PAYLOAD}`);
    expect(result.jws.signature).toEqual(Buffer.alloc(64, 1));
  });

  it('refuses a payload or header that is not valid UTF-8, rather than replacing the bytes', () => {
    const invalid = Buffer.concat([Buffer.from('{"sub":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    expect(decodeJws(`${HEADER}.${b64(invalid)}.${SIG}`)).toEqual({ ok: false, reason: 'malformed_token' });
    expect(decodeJws(`${b64(invalid)}.${PAYLOAD}.${SIG}`)).toEqual({ ok: false, reason: 'malformed_token' });
  });

  it.each([
    ['a JWE (five segments)', `${HEADER}.${PAYLOAD}.${SIG}.x.y`],
    ['padding', `${HEADER}.${PAYLOAD}.${SIG}=`],
    ['whitespace', `${HEADER}.${PAYLOAD} .${SIG}`],
    ['a segment of 4n+1 characters', `${HEADER}.${PAYLOAD}.${SIG}AAA`],
    ['a payload that is an array', `${HEADER}.${json([1])}.${SIG}`],
    ['a header that is a number', `${json(1)}.${PAYLOAD}.${SIG}`],
    ['a header that is a string', `${json('ES256')}.${PAYLOAD}.${SIG}`],
    ['a payload that is true', `${HEADER}.${json(true)}.${SIG}`],
    ['a payload that is null', `${HEADER}.${json(null)}.${SIG}`],
    ['text before the header', ` ${HEADER}.${PAYLOAD}.${SIG}`],
    ['a payload that is not JSON', `${HEADER}.${b64('not json')}.${SIG}`],
    ['nesting deeper than 16', `${HEADER}.${json({ a: JSON.parse('['.repeat(20) + ']'.repeat(20)) })}.${SIG}`],
    ['a header naming a parameter twice', `${b64('{"alg":"none","kid":"k","alg":"ES256"}')}.${PAYLOAD}.${SIG}`],
    ['a header naming a parameter twice, once escaped', `${b64('{"alg":"ES256","\\u0061lg":"HS256"}')}.${PAYLOAD}.${SIG}`],
    ['a header naming a parameter twice, with spacing', `${b64('{ "kid" : "a" , "alg":"ES256", "kid":"b" }')}.${PAYLOAD}.${SIG}`],
  ])('refuses %s', (_name, token) => {
    expect(decodeJws(token)).toEqual({ ok: false, reason: 'malformed_token' });
  });

  it('refuses a header or payload of 4n+1 characters, which would otherwise decode as if the last one were absent', () => {
    // 18 bytes of JSON encode to 24 characters: one more character is 4n+1.
    const whole = json({ alg: 'ES256', x: 'ab' });
    expect(whole.length % 4).toBe(0);
    expect(decodeJws(`${whole}.${PAYLOAD}.${SIG}`).ok).toBe(true);
    expect(decodeJws(`${whole}A.${PAYLOAD}.${SIG}`)).toEqual({ ok: false, reason: 'malformed_token' });
    expect(decodeJws(`${HEADER}.${whole}A.${SIG}`)).toEqual({ ok: false, reason: 'malformed_token' });
  });

  it('accepts JSON nested 16 deep and refuses 17', () => {
    const nested = (levels: number) => {
      let value: unknown = 'leaf';
      for (let i = 1; i < levels; i++) value = { n: value };
      return { sub: 'u', n: value };
    };
    expect(decodeJws(`${HEADER}.${json(nested(16))}.${SIG}`).ok).toBe(true);
    expect(decodeJws(`${HEADER}.${json(nested(17))}.${SIG}`)).toEqual({ ok: false, reason: 'malformed_token' });
  });

  it('refuses a claim nested 17 deep after one nested 16 deep (the walk stops only past the limit)', () => {
    const nested = (levels: number) => {
      let value: unknown = 'leaf';
      for (let i = 1; i < levels; i++) value = { n: value };
      return value;
    };
    expect(decodeJws(`${HEADER}.${json({ a: nested(16), b: nested(16) })}.${SIG}`).ok).toBe(true);
    expect(decodeJws(`${HEADER}.${json({ a: nested(16), b: nested(17) })}.${SIG}`)).toEqual({ ok: false, reason: 'malformed_token' });
  });

  it('reads a payload that names a claim twice as JSON.parse and jose do: the last one counts (only the header must name each once)', () => {
    const result = decodeJws(`${HEADER}.${b64('{"sub":"first","sub":"last"}')}.${SIG}`);
    expect(result.ok && result.jws.payload).toEqual({ sub: 'last' });
  });

  it('refuses nesting far deeper than the limit without walking all of it (no stack overflow)', () => {
    // limits.maxTokenBytes allows 64 KiB: tens of thousands of levels, more than a full walk's stack holds.
    const deep = b64(`{"a":${'['.repeat(40_000)}${']'.repeat(40_000)}}`);
    expect(decodeJws(`${HEADER}.${deep}.${SIG}`)).toEqual({ ok: false, reason: 'malformed_token' });
  });

  it('reads a header whose nested objects or string values repeat a top-level name', () => {
    const header = '{"alg":"ES256","kid":"alg","jwk":{"alg":"x","kid":"y"},"x":["kid","alg"],"q":"\\"alg\\":"}';
    const result = decodeJws(`${b64(header)}.${PAYLOAD}.${SIG}`);
    expect(result.ok && result.jws.header).toEqual(JSON.parse(header));
  });
});

describe('looksLikeJws', () => {
  it('is true for three base64url segments only', () => {
    expect(looksLikeJws(`${HEADER}.${PAYLOAD}.${SIG}`)).toBe(true);
    expect(looksLikeJws('a.b.c')).toBe(true);
    expect(looksLikeJws('opaque-token')).toBe(false);
    expect(looksLikeJws(`${HEADER}.${PAYLOAD}.${SIG}.x.y`)).toBe(false);
    expect(looksLikeJws(`x ${HEADER}.${PAYLOAD}.${SIG}`)).toBe(false);
  });
});

describe('criticalExtensionsUnderstood', () => {
  it('accepts no crit, and crit naming only b64 with b64: true', () => {
    expect(criticalExtensionsUnderstood({ alg: 'ES256' })).toBe(true);
    expect(criticalExtensionsUnderstood({ alg: 'ES256', crit: ['b64'], b64: true })).toBe(true);
  });

  it('refuses unknown extensions, an unencoded payload and malformed crit values', () => {
    expect(criticalExtensionsUnderstood({ crit: ['exp'], exp: 1 })).toBe(false);
    // Every name must be understood, not just one of them.
    expect(criticalExtensionsUnderstood({ crit: ['b64', 'exp'], b64: true, exp: 1 })).toBe(false);
    expect(criticalExtensionsUnderstood({ crit: ['exp', 'b64'], b64: true, exp: 1 })).toBe(false);
    expect(criticalExtensionsUnderstood({ crit: ['b64'], b64: false })).toBe(false);
    expect(criticalExtensionsUnderstood({ crit: ['b64'] })).toBe(false);
    expect(criticalExtensionsUnderstood({ crit: [] })).toBe(false);
    expect(criticalExtensionsUnderstood({ crit: [], b64: true })).toBe(false);
    expect(criticalExtensionsUnderstood({ crit: 'b64', b64: true })).toBe(false);
  });
});
