import { createHash } from 'node:crypto';

/** RFC 8705 §3.1 `x5t#S256`: SHA-256 of the certificate's DER encoding, base64url without padding. */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/;

/**
 * The thumbprint of the first certificate in a URL-encoded PEM, as Envoy sends `source.certificate`
 * and `X-Forwarded-Client-Cert`'s `Cert=` (the leaf only). Undefined when there is no PEM certificate:
 * a token bound to a certificate then never matches. The DER is hashed as sent, not parsed: Envoy
 * already verified the certificate in its handshake, and parsing would cost every request ~10 µs.
 */
export function pemThumbprint(urlEncodedPem: string): string | undefined {
  let pem: string;
  try {
    pem = decodeURIComponent(urlEncodedPem);
  } catch {
    return undefined;
  }
  const body = PEM_BLOCK.exec(pem)?.[1];
  if (body === undefined) return undefined;
  const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  return der.length > 0 ? certificateThumbprint(der) : undefined;
}
