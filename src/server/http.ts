import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { splitHostPort } from '../util/host-port.js';
import type { ListenerTls } from '../tls/listener-tls.js';
import { answerClientErrors } from './client-errors.js';
import { sendJson, type HttpHandler } from '../util/http-reply.js';
import type { Readiness } from './readiness.js';

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  address: string;
  /** `/metrics`, `/healthz` and `/readyz`; without them (the admin API's own port) only `handlers` answer. */
  registry?: () => Registry;
  readiness?: () => Readiness;
  /** Extra handlers (the admin API), consulted after the built-in routes. */
  handlers: () => readonly HttpHandler[];
  onError: (err: unknown) => void;
  /** HTTPS (and mTLS with a client CA) when set. */
  tls?: ListenerTls;
}

/** `/metrics` (Prometheus), `/healthz` (the process answers), `/readyz` (it can decide), then the admin API. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const handler: RequestListener = (req, res) => {
    route(req, res, options).catch((err: unknown) => {
      options.onError(err);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.destroy();
    });
  };
  const server = options.tls ? httpsServer(options.tls, handler) : createServer(handler);
  // The admin API reads small JSON bodies; a slow client must not hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  answerClientErrors(server);
  return listenOn(server, options.address);
}

/** Listens on host:port; `close` also ends idle keep-alive connections. */
export async function listenOn(server: Server, address: string): Promise<HttpServer> {
  const { host, port } = splitHostPort(address);
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
  const { registry: registryOf, readiness: readinessOf } = options;
  if ((req.method === 'GET' || req.method === 'HEAD') && registryOf && readinessOf) {
    switch (path) {
      case '/metrics': {
        const registry = registryOf();
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
        return;
      }
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz': {
        const readiness = readinessOf();
        return sendJson(res, readiness.ready ? 200 : 503, readiness);
      }
    }
  }
  for (const handler of options.handlers()) {
    if (await handler(req, res)) return;
  }
  sendJson(res, 404, { error: 'not_found' });
}

/** An HTTPS server whose certificate follows `tls` (reloaded on file change) and which enforces allowedClients. */
export function httpsServer(tls: ListenerTls, handler: RequestListener): Server {
  const server = createHttpsServer(tls.serverOptions(), handler);
  tls.attach(server);
  return server;
}
