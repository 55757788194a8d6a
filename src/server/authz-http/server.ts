import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { RequestView } from '../../pipeline/request.js';
import { callerFrom } from '../../tls/listener-tls.js';
import type { Caller } from '../../util/caller.js';
import type { CheckResponse } from '../../envoy/types.js';
import { listenOn, type HttpServer } from '../http.js';
import { sendJson } from '../../util/http-reply.js';
import { toAuthzAnswer } from './answer.js';
import { dialectOf, requestViewOf, type AuthzRequestOptions } from './requests.js';

/**
 * Runs the pipeline on a request view and returns the gRPC-shaped answer. The view is built inside, so
 * that a failure to build it is a denial like any other failure; `invalid_request_line` is a proxy's
 * description that names no one request. `caller`: the proxy's client certificate, when
 * listen.httpTls verifies one.
 */
export type AuthzCheck = (view: () => RequestView | 'invalid_request_line', caller?: Caller) => Promise<CheckResponse>;

/** Makes the listening server: plain HTTP by default, HTTPS (and mTLS) with `listen.httpTls`. */
export type AuthzServerFactory = (listener: RequestListener) => Server;

const KEEP_ALIVE_MS = 75_000;

export interface AuthzServerOptions {
  /** listen.authz, host:port. */
  address: string;
  check: AuthzCheck;
  /** Read per request: a reload may change them. */
  requestOptions: () => AuthzRequestOptions;
  onError: (err: unknown) => void;
  createServer?: AuthzServerFactory;
}

/**
 * The HTTP authorization port: `/envoy/...` (Envoy http_service), `/nginx` (auth_request),
 * `/ingress-nginx` (its auth-url) and `/traefik` (forwardAuth), each a thin transport around the same
 * pipeline as gRPC Check.
 * Request bodies are never read.
 */
export async function startAuthzServer(options: AuthzServerOptions): Promise<HttpServer> {
  const server = (options.createServer ?? createServer)((req, res) => {
    answer(req, res, options).catch((err: unknown) => {
      // The check itself turns every failure into a denial; reaching here means writing failed.
      options.onError(err);
      res.destroy();
    });
  });
  // Proxies send the headers at once; a client that trickles them must not hold a socket.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  // Longer than the proxies' idle timeouts for upstream connections (the examples set 60 s): the
  // proxy closes an idle connection first, instead of reusing one tollgate is closing, which it would
  // report as an authorizer failure (a 500 or 503 for the client).
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  return listenOn(server, options.address);
}

async function answer(req: IncomingMessage, res: ServerResponse, options: AuthzServerOptions): Promise<void> {
  const dialect = dialectOf(req.url ?? '');
  // A body is never read: the connection is closed after the answer instead of draining it, so a huge
  // body costs nothing. Proxies send none (Envoy sends Content-Length: 0).
  const hasBody =
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') ||
    req.headers['transfer-encoding'] !== undefined;
  const close: Record<string, string> = hasBody ? { connection: 'close' } : {};
  if (!dialect) return sendJson(res, 404, { error: 'not_found' }, close);
  const request = options.requestOptions();
  const response = await options.check(() => requestViewOf(dialect, req, request), callerOf(req));
  const { status, headers, body } = toAuthzAnswer(response, dialect);
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body), ...close });
  res.end(body);
}

/** The client certificate the request came with (its URI SAN and DER); none on plain HTTP. */
function callerOf(req: IncomingMessage): Caller | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  return callerFrom(socket.getPeerCertificate?.());
}
