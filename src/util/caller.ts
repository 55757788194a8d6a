/**
 * The workload that asked for a decision: the client certificate a listener's TLS handshake verified
 * (the Check RPC on listen.tls, or the HTTP authorization request on listen.httpTls), as internal
 * tokens need it: `id` becomes `act.sub`, and with `internalTokens.bindToCaller` the certificate's
 * thumbprint becomes `cnf["x5t#S256"]`.
 */
export interface Caller {
  /** The certificate's SPIFFE ID (its first URI SAN); undefined when it has none. */
  readonly id: string | undefined;
  /** The certificate's DER as the handshake received it (Node's `PeerCertificate.raw`). */
  readonly certificate: Uint8Array;
}
