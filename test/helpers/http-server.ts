import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestHttpServer {
  url: string;
  port: number;
  /** Requests received, by path. */
  requests: string[];
  close(): Promise<void>;
}

/** A real HTTP server on a free loopback port, answering with `handler`. */
export async function startHttpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestHttpServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves a JWKS document whose contents the test may replace. */
export async function startJwksServer(initial: object): Promise<TestHttpServer & { set(doc: object): void }> {
  let body = JSON.stringify(initial);
  const server = await startHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  return Object.assign(server, { set: (doc: object) => void (body = JSON.stringify(doc)) });
}

/**
 * The app behind a proxy under test: it answers 200 and records the headers of each request it gets.
 * `reached(send)` runs one request through the proxy and returns what the app saw of it, or undefined
 * when the proxy did not pass it on (at most one request may reach the app per call).
 */
export async function startRecordingApp(): Promise<
  TestHttpServer & { reached<R>(send: () => Promise<R>): Promise<{ result: R; upstream: IncomingHttpHeaders | undefined }> }
> {
  const seen: IncomingHttpHeaders[] = [];
  const server = await startHttpServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('from the app');
  });
  return {
    ...server,
    async reached(send) {
      const before = seen.length;
      const result = await send();
      if (seen.length - before > 1) throw new Error(`one request reached the app ${seen.length - before} times`);
      return { result, upstream: seen.length > before ? seen.at(-1) : undefined };
    },
  };
}
