import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Returns true when it answered the request; the server tries handlers in order. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export interface Readiness {
  ready: boolean;
  /** Per component: why it is or is not ready. Never holds secrets. */
  checks: Record<string, { ready: boolean; detail?: string }>;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  address: string;
  registry: () => Registry;
  readiness: () => Readiness;
  /** Extra handlers (the admin API), consulted after the built-in routes. */
  handlers: () => readonly HttpHandler[];
  onError: (err: unknown) => void;
}

/** `/metrics` (Prometheus), `/healthz` (the process answers), `/readyz` (it can decide), then the admin API. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const server = createServer((req, res) => {
    route(req, res, options).catch((err: unknown) => {
      options.onError(err);
      if (!res.headersSent) json(res, 500, { error: 'internal_error' });
      else res.destroy();
    });
  });
  // The admin API reads small JSON bodies; a slow client must not hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  const { host, port } = splitHostPort(options.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(req: IncomingMessage, res: ServerResponse, options: HttpServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (req.method === 'GET' || req.method === 'HEAD') {
    switch (path) {
      case '/metrics': {
        const registry = options.registry();
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
        return;
      }
      case '/healthz':
        return json(res, 200, { status: 'ok' });
      case '/readyz': {
        const readiness = options.readiness();
        return json(res, readiness.ready ? 200 : 503, readiness);
      }
    }
  }
  for (const handler of options.handlers()) {
    if (await handler(req, res)) return;
  }
  json(res, 404, { error: 'not_found' });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(colon + 1)) };
}
