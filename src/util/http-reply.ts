/**
 * The HTTP port's own answers, shared by every room that serves on it (health and readiness in
 * src/server, the admin API, the internal-token JWKS): JSON or empty, never cached by a proxy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Returns true when it answered the request; the server tries handlers in order. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** JSON answers of the HTTP port (health, readiness, the admin API); never cached by a proxy. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'cache-control': 'no-store' });
  res.end();
}
