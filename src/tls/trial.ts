import { duplexPair } from 'node:stream';
import { connect, createSecureContext, TLSSocket, type SecureContextOptions } from 'node:tls';

/** A trial handshake runs over memory; it takes a few milliseconds, so this only bounds a wedge. */
const TRIAL_TIMEOUT_MS = 5_000;

/**
 * Tries a pair the way a listener will serve it: builds the secure context (OpenSSL applies its
 * security level here: an RSA-1024 key or a SHA-1 signature fails, though the key matches and the
 * dates are valid) and completes a TLS handshake with it, in memory, against a client that only asks
 * for a working session. Resolves with why it cannot serve, or undefined when it can. Never rejects.
 * The client certificate is not requested: the trial is about the serving side.
 */
export async function tryServing(context: SecureContextOptions): Promise<string | undefined> {
  let secureContext;
  try {
    secureContext = createSecureContext({ ...context, minVersion: 'TLSv1.2' });
  } catch (err) {
    return `the pair cannot serve TLS: ${reasonOf(err)}`;
  }
  const [serverSide, clientSide] = duplexPair();
  const server = new TLSSocket(serverSide, { isServer: true, secureContext });
  const client = connect({ socket: clientSide, rejectUnauthorized: false, servername: 'localhost', minVersion: 'TLSv1.2' });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the trial handshake did not complete')), TRIAL_TIMEOUT_MS);
      client.once('secureConnect', () => {
        clearTimeout(timer);
        resolve();
      });
      for (const socket of [server, client]) {
        socket.once('error', (err: Error) => {
          clearTimeout(timer);
          reject(err);
        });
      }
    });
    return undefined;
  } catch (err) {
    return `a TLS handshake with the pair failed: ${reasonOf(err)}`;
  } finally {
    client.destroy();
    server.destroy();
  }
}

/** OpenSSL's reason without its file/line trail; it never holds key material. */
function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /:([^:]+):[^:]*\.c:\d+/.exec(message)?.[1] ?? message.split(':').at(-1)?.trim() ?? message;
}
