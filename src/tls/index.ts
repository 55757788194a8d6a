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

/** Loads, checks and tries the configured pairs (one that cannot serve fails startup) and starts following their files. */
export async function startListenersTls(
  listen: { tls?: TlsListenerConfig; httpTls?: TlsListenerConfig },
  deps: Deps,
  pollMs?: number,
): Promise<ListenersTls> {
  const metrics = createTlsMetrics(deps.registry);
  const grpc = listen.tls && (await ListenerTls.start('grpc', listen.tls, deps, metrics, pollMs));
  let http: ListenerTls | undefined;
  try {
    http = listen.httpTls && (await ListenerTls.start('http', listen.httpTls, deps, metrics, pollMs));
  } catch (err) {
    grpc?.stop();
    throw err;
  }
  return { grpc, http, all: [grpc, http].filter((t) => t !== undefined) };
}
