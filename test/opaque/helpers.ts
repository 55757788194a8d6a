import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/** The client tollgate introspects as, and the one that gets tokens; both real clients of the server. */
export const INTROSPECTOR = { id: 'tollgate', secret: 'tollgate-introspection-secret-0123456789' };
const CALLER = { id: 'caller', secret: 'caller-secret-0123456789abcdef' };

export interface AuthorizationServer {
  issuer: string;
  introspectionUrl: string;
  /** An opaque access token issued through client credentials, for `resource` (its `aud`: `api`). */
  issueToken(): Promise<string>;
  /** Revokes a token at the server (RFC 7009): its introspection then says `active: false`. */
  revoke(token: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * oidc-provider (the OpenID-certified Node implementation) on loopback: opaque access tokens through
 * client credentials, its own RFC 7662 introspection and RFC 7009 revocation endpoints.
 */
export async function startAuthorizationServer(): Promise<AuthorizationServer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      { client_id: INTROSPECTOR.id, client_secret: INTROSPECTOR.secret, grant_types: [], redirect_uris: [], response_types: [] },
      {
        client_id: CALLER.id,
        client_secret: CALLER.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'read',
      },
    ],
    scopes: ['read'],
    ttl: { ClientCredentials: 600 },
    features: {
      clientCredentials: { enabled: true },
      // Any authenticated confidential client may introspect (the library's default, stated).
      introspection: { enabled: true, allowedPolicy: (_ctx, client) => client.clientAuthMethod !== 'none' },
      revocation: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://api.example',
        getResourceServerInfo: () => ({ scope: 'read', audience: 'api', accessTokenFormat: 'opaque', accessTokenTTL: 600 }),
      },
    },
  });
  const handle = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void handle(req, res));
  const form = async (path: string, body: Record<string, string>, client = CALLER) => {
    const response = await fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
      },
      body: new URLSearchParams(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response;
  };
  return {
    issuer,
    introspectionUrl: `${issuer}/token/introspection`,
    async issueToken() {
      const response = await form('/token', { grant_type: 'client_credentials', scope: 'read', resource: 'https://api.example' });
      return ((await response.json()) as { access_token: string }).access_token;
    },
    async revoke(token) {
      await form('/token/revocation', { token });
    },
    close: () => closeServer(server),
  };
}

export interface IntrospectionEndpoint {
  url: string;
  /** Requests received, each with its form body and Authorization header. */
  requests: Array<{ form: URLSearchParams; authorization: string | undefined }>;
  /** What the next requests get. */
  answer(handler: (req: IncomingMessage, res: ServerResponse, form: URLSearchParams) => void): void;
  close(): Promise<void>;
}

/** The suite's own RFC 7662 endpoint (a real node:http server), told per test how to misbehave. */
export async function startIntrospectionEndpoint(): Promise<IntrospectionEndpoint> {
  let handler: (req: IncomingMessage, res: ServerResponse, form: URLSearchParams) => void = (_req, res) =>
    json(res, 200, { active: false });
  const requests: IntrospectionEndpoint['requests'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      requests.push({ form, authorization: req.headers.authorization });
      handler(req, res, form);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`,
    requests,
    answer: (next) => (handler = next),
    close: () => closeServer(server),
  };
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
