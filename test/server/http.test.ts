import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpServer } from '../../src/server/http.js';
import { Registry } from 'prom-client';

/** Sends `request` whole, reads only once it is all written, and returns what came back. */
function exchange(port: number, request: string): Promise<{ answer: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    let answer = '';
    let error: string | undefined;
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code));
    socket.on('close', () => resolve({ answer, error }));
    socket.on('connect', () =>
      socket.write(request, () => {
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
        socket.resume();
      }),
    );
  });
}

describe('the HTTP port refusing what node cannot parse', () => {
  let server: HttpServer;
  const errors: unknown[] = [];
  beforeAll(async () => {
    server = await startHttpServer({
      address: '127.0.0.1:0',
      registry: () => new Registry(),
      readiness: () => ({ ready: true, checks: {} }),
      handlers: () => [],
      onError: (err) => errors.push(err),
    });
  });
  afterAll(async () => server?.close());

  // 16 MiB, more than loopback socket buffers absorb: a server that closes with the rest unread resets.
  it('answers a huge header with 431, not a connection reset', async () => {
    const { answer, error } = await exchange(
      server.port,
      `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(16 * 1024 * 1024)}\r\n\r\n`,
    );
    expect(error).toBeUndefined();
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });

  it('answers a request line it cannot parse with 400', async () => {
    const { answer } = await exchange(server.port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
  });

  it('keeps serving afterwards', async () => {
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
    expect(errors).toEqual([]);
  });
});
