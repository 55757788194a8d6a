import type { CheckResponse, HeaderValueOption } from '../../envoy/types.js';
import type { AuthzDialect } from './requests.js';

/** An HTTP authorization answer: what the proxy reads to allow or deny the original request. */
export interface AuthzAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Envoy's http_service removes the upstream request headers named here (comma-separated), the HTTP
 * counterpart of `ok_response.headers_to_remove`.
 */
export const ENVOY_HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

/**
 * The same answer the gRPC Check gives, spoken as HTTP: the one respond stage builds the CheckResponse,
 * and this only changes its wire form, so both transports inject, remove and deny alike.
 *
 * - Allow: 200, each identity header as a response header (Envoy's `allowed_upstream_headers`, nginx's
 *   `auth_request_set`, Traefik's `authResponseHeaders` copy them upstream), plus the client-facing
 *   `response_headers_to_add`. For Envoy, `x-envoy-auth-headers-to-remove` lists what it must strip;
 *   nginx and Traefik strip by their own config (examples/nginx, examples/traefik).
 * - Deny: the denied response's status, headers (`WWW-Authenticate`) and JSON body. nginx treats any
 *   status but 2xx, 401 and 403 as an error, so for nginx (and ingress-nginx) an internal failure is a
 *   403: still a denial.
 */
export function toAuthzAnswer(response: CheckResponse, dialect: AuthzDialect): AuthzAnswer {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (response.status?.code === 0 && response.ok_response) {
    const ok = response.ok_response;
    setAll(headers, ok.headers);
    setAll(headers, ok.response_headers_to_add);
    if (dialect === 'envoy' && ok.headers_to_remove && ok.headers_to_remove.length > 0) {
      headers[ENVOY_HEADERS_TO_REMOVE] = ok.headers_to_remove.join(', ');
    }
    return { status: 200, headers, body: '' };
  }
  const denied = response.denied_response;
  setAll(headers, denied?.headers);
  const status = typeof denied?.status?.code === 'number' ? denied.status.code : 403;
  const nginx = dialect === 'nginx' || dialect === 'ingress-nginx';
  return { status: nginx && status !== 401 ? 403 : status, headers, body: denied?.body ?? '' };
}

function setAll(target: Record<string, string>, options: readonly HeaderValueOption[] | undefined): void {
  for (const option of options ?? []) {
    if (option.header?.key) target[option.header.key.toLowerCase()] = option.header.value ?? '';
  }
}
