import { z } from 'zod';
import { compilePrincipals } from '../policy/peer.js';

/**
 * `listen.tls` (gRPC listener) and `listen.httpTls` (HTTP port): the serving certificate and key, and
 * with `clientCaFile` a client certificate signed by that CA is required (mTLS). `allowedClients`
 * narrows the accepted clients to SPIFFE IDs (URI SAN), exact or a prefix ending in `/*`.
 */
export const tlsListenerSchema = z
  .strictObject({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    clientCaFile: z.string().min(1).optional(),
    allowedClients: z.array(z.string().min(1)).min(1).optional(),
  })
  .superRefine((tls, ctx) => {
    if (tls.allowedClients && !tls.clientCaFile) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedClients'],
        message: 'allowedClients needs clientCaFile: client certificates are only requested when a CA is set',
      });
    }
    const compiled = compilePrincipals(tls.allowedClients ?? []);
    if (!compiled.ok) ctx.addIssue({ code: 'custom', path: ['allowedClients', compiled.index], message: compiled.message });
  });

export type TlsListenerConfig = z.infer<typeof tlsListenerSchema>;

/** Anchors the files at the config's directory. */
export function resolveTlsPaths(tls: TlsListenerConfig | undefined, at: (p: string) => string): TlsListenerConfig | undefined {
  return (
    tls && {
      ...tls,
      certFile: at(tls.certFile),
      keyFile: at(tls.keyFile),
      clientCaFile: tls.clientCaFile === undefined ? undefined : at(tls.clientCaFile),
    }
  );
}
