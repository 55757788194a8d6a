import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import type { TlsListenerConfig } from './schema.js';

/** A certificate/key pair (and client CA) that passed every check and can be handed to a TLS server. */
export interface TlsMaterial {
  context: SecureContextOptions;
  /** The serving certificate's notAfter, in ms since the epoch. */
  notAfterMs: number;
  serialNumber: string;
}

export type FileRead = { ok: true; digest: string; cert: Buffer; key: Buffer; ca?: Buffer } | { ok: false; message: string };

/** Reads the configured files and a digest of their content, so an unchanged set is not checked again. */
export function readTlsFiles(config: TlsListenerConfig): FileRead {
  try {
    const cert = readFileSync(config.certFile);
    const key = readFileSync(config.keyFile);
    const ca = config.clientCaFile === undefined ? undefined : readFileSync(config.clientCaFile);
    const digest = createHash('sha256')
      .update(cert)
      .update('\0')
      .update(key)
      .update('\0')
      .update(ca ?? '')
      .digest('hex');
    return { ok: true, digest, cert, key, ca };
  } catch (err) {
    return {
      ok: false,
      message: `cannot read ${(err as NodeJS.ErrnoException).path ?? 'file'}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    };
  }
}

/**
 * Checks a pair before it is used: the key matches the first certificate, that certificate is valid
 * at `nowMs`, and with a client CA it chains (through the intermediates in the certificate file) to a
 * certificate of that CA bundle — cert-manager and SPIRE issue serving and client certificates from
 * one trust bundle, so a serving certificate outside it is a mixed-up mount. Messages never hold key
 * material.
 */
export function validateTlsMaterial(
  files: Extract<FileRead, { ok: true }>,
  nowMs: number,
): { ok: true; material: TlsMaterial } | { ok: false; message: string } {
  let chain: X509Certificate[];
  let key: KeyObject;
  let cas: X509Certificate[] = [];
  try {
    chain = pemCertificates(files.cert);
    if (chain.length === 0) return { ok: false, message: 'certFile holds no PEM certificate' };
  } catch {
    return { ok: false, message: 'certFile is not a valid PEM certificate' };
  }
  try {
    key = createPrivateKey(files.key);
  } catch {
    return { ok: false, message: 'keyFile is not a valid PEM private key' };
  }
  if (files.ca) {
    try {
      cas = pemCertificates(files.ca);
    } catch {
      return { ok: false, message: 'clientCaFile is not a valid PEM certificate bundle' };
    }
    if (cas.length === 0) return { ok: false, message: 'clientCaFile holds no PEM certificate' };
  }
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) return { ok: false, message: 'the key does not match the certificate' };
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (nowMs < notBefore) return { ok: false, message: `the certificate is not valid before ${leaf.validFrom}` };
  if (nowMs > notAfter) return { ok: false, message: `the certificate expired at ${leaf.validTo}` };
  if (files.ca && !chainsTo(leaf, chain.slice(1), cas)) return { ok: false, message: 'the certificate does not chain to clientCaFile' };
  return {
    ok: true,
    material: { context: { cert: files.cert, key: files.key, ca: files.ca }, notAfterMs: notAfter, serialNumber: leaf.serialNumber },
  };
}

/** Every certificate in a PEM bundle, in order. */
function pemCertificates(pem: Buffer): X509Certificate[] {
  return (pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
}

/** Walks up from `leaf` through `intermediates` until a certificate of `anchors` signed the current one. */
function chainsTo(leaf: X509Certificate, intermediates: X509Certificate[], anchors: X509Certificate[]): boolean {
  let current = leaf;
  const unused = [...intermediates];
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (anchors.some((ca) => signedBy(current, ca))) return true;
    const index = unused.findIndex((c) => signedBy(current, c));
    if (index === -1) return false;
    current = unused.splice(index, 1)[0]!;
  }
  return false;
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}
