import { Counter, Gauge, type Registry } from 'prom-client';

/** TLS metrics of the listeners; `listener` is `grpc` or `http` (from code, never from a request). */
export function createTlsMetrics(registry: Registry) {
  return {
    certificateExpiry: new Gauge({
      name: 'tollgate_tls_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the serving certificate in use, by listener (Unix seconds).',
      labelNames: ['listener'] as const,
      registers: [registry],
    }),
    reloads: new Counter({
      name: 'tollgate_tls_reloads_total',
      help: 'Certificate/key/CA file changes by listener and result (success|error); on error the last good pair keeps serving.',
      labelNames: ['listener', 'result'] as const,
      registers: [registry],
    }),
    clientsRefused: new Counter({
      name: 'tollgate_tls_clients_refused_total',
      help: 'Clients with a CA-signed certificate whose SPIFFE ID is not in allowedClients, by listener.',
      labelNames: ['listener'] as const,
      registers: [registry],
    }),
  };
}

export type TlsMetrics = ReturnType<typeof createTlsMetrics>;
