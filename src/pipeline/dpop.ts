import { createPublicKey, hash, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { clientPublicJwk, jwkThumbprint, keyFitsAlgorithm, verifySignature, type PublicJwk } from '../keys/index.js';
import { criticalExtensionsUnderstood, decodeJwsHeader, decodeJwsPayload, splitJws } from './jws.js';

/** RFC 9449 §4.2: the proof's explicit type; compared exactly, as the RFC writes it. */
const DPOP_TYP = 'dpop+jwt';
/** A proof is a header, a few claims and a public key: an RSA-4096 proof is well under this. */
const MAX_PROOF_BYTES = 4096;
/** A `jti` is a random id (RFC 9449 §4.2 suggests 96 bits or more); anything this long is not one. */
const MAX_JTI_LENGTH = 256;

/** What a proof's header says, once checked: the algorithm and the client's key (imported when first needed). */
interface ProofHeader {
  readonly alg: string;
  readonly jwk: PublicJwk;
  /** RFC 7638 thumbprint of `jwk`. */
  readonly jkt: string;
  /** Imported when a proof with this header first reaches its signature; null when the key cannot be imported or used with `alg`. */
  key?: KeyObject | null;
}

/**
 * Checked proof headers by their text. A client signs every proof with one key under one header
 * (`typ`, `alg`, `jwk`), so reading it once spares each later proof the decoding, the thumbprint's hash
 * and the key's import (about 40 µs for P-256): the same text reads the same. Headers that fail their
 * checks are not kept. Bounded by their characters, as clients choose them.
 */
const proofHeaders = new LRUCache<string, ProofHeader>({ maxSize: 4 * 1024 * 1024, sizeCalculation: (_, header) => header.length });

export interface ProofSettings {
  /** The provider's `dpop.algorithms`: asymmetric only (the schema refuses `none` and HS*). */
  algorithms: readonly string[];
  maxAgeSeconds: number;
  skewSeconds: number;
}

/** What the proof is checked against: the request it came with and the access token it accompanies. */
export interface ProofRequest {
  method: string;
  /** `scheme://host/path` of the request, before normalisation; undefined when the scheme is unknown. */
  uri: string | undefined;
  accessToken: string;
  nowSeconds: number;
}

/** A valid proof: the RFC 7638 thumbprint of its key, and what its replay check needs. */
export interface ValidProof {
  jkt: string;
  jti: string;
  /** Seconds: after this the proof would be refused as too old, so its `jti` need not be remembered longer. */
  acceptableUntil: number;
}

/**
 * Checks one DPoP proof as RFC 9449 §4.3 lists (replay aside: the caller owns the replay store):
 * a compact JWS of `typ: dpop+jwt` signed, with an allowed asymmetric algorithm, by the public key in
 * its own `jwk` header; `htm` and `htu` naming this request; `iat` within `maxAgeSeconds` (and the
 * skew); `ath` the hash of this access token (§7). The claims are compared before the signature is
 * verified, so a proof that was never valid for this request costs no signature check.
 */
export async function verifyProof(proof: string, request: ProofRequest, settings: ProofSettings): Promise<ValidProof | undefined> {
  if (proof.length > MAX_PROOF_BYTES) return undefined;
  const segments = splitJws(proof);
  if (!segments) return undefined;
  const header = proofHeader(segments.header);
  if (!header || !settings.algorithms.includes(header.alg)) return undefined;
  const payload = decodeJwsPayload(segments.payload);
  if (!payload) return undefined;

  const { jti, htm, htu, iat, ath } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) return undefined;
  if (htm !== request.method) return undefined;
  const expectedUri = request.uri === undefined ? undefined : normalizedUri(request.uri);
  if (typeof htu !== 'string' || expectedUri === undefined || normalizedUri(htu) !== expectedUri) return undefined;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return undefined;
  const { maxAgeSeconds, skewSeconds } = settings;
  if (iat > request.nowSeconds + skewSeconds || iat < request.nowSeconds - maxAgeSeconds - skewSeconds) return undefined;
  if (ath !== accessTokenHash(request.accessToken)) return undefined;

  // Not `??=`: null, a key that cannot be used, is remembered too.
  if (header.key === undefined) header.key = importKey(header);
  if (!header.key) return undefined;
  if (!(await verifySignature(header.alg, header.key, segments.signingInput, segments.signature))) return undefined;
  return { jkt: header.jkt, jti, acceptableUntil: iat + maxAgeSeconds + skewSeconds };
}

/** The header's checks (RFC 9449 §4.3 checks 2–5 that concern the header), remembered for its text; undefined when it fails one. */
function proofHeader(text: string): ProofHeader | undefined {
  const known = proofHeaders.get(text);
  if (known) return known;
  const header = decodeJwsHeader(text);
  if (!header) return undefined;
  const { alg } = header;
  if (header.typ !== DPOP_TYP || typeof alg !== 'string' || !criticalExtensionsUnderstood(header)) return undefined;
  const jwk = clientPublicJwk(header.jwk);
  if (typeof jwk === 'string') return undefined;
  const checked: ProofHeader = { alg, jwk, jkt: jwkThumbprint(jwk) };
  proofHeaders.set(text, checked);
  return checked;
}

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the access token's ASCII. */
function accessTokenHash(token: string): string {
  return hash('sha256', Buffer.from(token, 'latin1'), 'base64url');
}

function importKey(header: ProofHeader): KeyObject | null {
  try {
    const key = createPublicKey({ key: { ...header.jwk }, format: 'jwk' });
    return keyFitsAlgorithm(header.alg, key) ? key : null;
  } catch {
    return null;
  }
}

/**
 * The URI as RFC 9449 §4.3 compares it: without query and fragment, after RFC 3986 syntax-based
 * normalisation (scheme and host lower-cased, the default port dropped, dot segments resolved), which
 * the WHATWG parser does. Only http(s) and no userinfo: nothing else names a request tollgate guards.
 */
function normalizedUri(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}
