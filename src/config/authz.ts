import { z } from 'zod';

/** `authz`: how the HTTP authorization port (listen.authz) reads what its proxy forwards. */
export const authzConfigSchema = z
  .strictObject({
    /**
     * Take the workload identity from X-Forwarded-Client-Cert (its last element's URI=). Only when the
     * proxy in front sets that header itself (Envoy: forward_client_cert_details SANITIZE_SET) and
     * nothing else can reach the port; otherwise a client could name any identity.
     */
    trustForwardedClientCert: z.boolean().default(false),
  })
  .default({ trustForwardedClientCert: false });
