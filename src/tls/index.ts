import type { Deps } from '../observability/deps.js';
import { ListenerTls } from './listener-tls.js';
import { createTlsMetrics } from './metrics.js';
import type { TlsListenerConfig } from './schema.js';

export { ListenerTls, DEFAULT_TLS_POLL_MS } from './listener-tls.js';
export { tlsListenerSchema, type TlsListenerConfig } from './schema.js';

export interface ListenersTls {
  grpc?: ListenerTls;
  http?: ListenerTls;
  /** Each configured listener, for readiness and shutdown. */
  all: ListenerTls[];
}

/** Loads and checks the configured pairs (a bad one fails startup) and starts following their files. */
export function startListenersTls(
  listen: { tls?: TlsListenerConfig; httpTls?: TlsListenerConfig },
  deps: Deps,
  pollMs?: number,
): ListenersTls {
  const metrics = createTlsMetrics(deps.registry);
  const grpc = listen.tls && ListenerTls.start('grpc', listen.tls, deps, metrics, pollMs);
  let http: ListenerTls | undefined;
  try {
    http = listen.httpTls && ListenerTls.start('http', listen.httpTls, deps, metrics, pollMs);
  } catch (err) {
    grpc?.stop();
    throw err;
  }
  return { grpc, http, all: [grpc, http].filter((t) => t !== undefined) };
}
