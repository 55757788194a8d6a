import type { PeerCertificate, SecureContextOptions, Server as TlsServer, TLSSocket, TlsOptions } from 'node:tls';
import { ConfigError } from '../util/config-error.js';
import type { Deps } from '../observability/deps.js';
import { compilePrincipals, firstUriSan, type PrincipalMatcher } from '../policy/peer.js';
import { readTlsFiles, validateTlsMaterial, type TlsMaterial } from './material.js';
import type { TlsMetrics } from './metrics.js';
import type { TlsListenerConfig } from './schema.js';

/** How often the files are compared with what serves: well inside the 5 s a rotation may take to show. */
export const DEFAULT_TLS_POLL_MS = 1000;

type Listener = (context: SecureContextOptions) => void;

/**
 * The TLS side of one listener: the pair in use, reloaded when the files change (cert-manager and
 * SPIRE rotate hourly or faster), and the allowedClients check. Polling rather than fs.watch: a
 * Kubernetes Secret update swaps a symlink, which some file systems report late or not at all, and
 * three small reads a second cost nothing. A changed set is validated first; a bad one is refused with
 * a log line and the last good pair keeps serving. Only new connections see the new pair: open
 * connections and their in-flight checks carry on.
 */
export class ListenerTls {
  private material: TlsMaterial;
  /** Digest of the files that serve, and of the last set refused. */
  private version: string;
  private refusedVersion: string | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly allowed: PrincipalMatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly name: 'grpc' | 'http',
    private readonly config: TlsListenerConfig,
    private readonly deps: Deps,
    private readonly metrics: TlsMetrics,
  ) {
    const files = readTlsFiles(config);
    const checked = files.ok ? validateTlsMaterial(files, deps.clock.now()) : files;
    if (!checked.ok) throw new ConfigError([`${this.field}: ${checked.message}`]);
    this.material = checked.material;
    this.version = files.ok ? files.digest : '';
    const compiled = compilePrincipals(config.allowedClients ?? []);
    this.allowed = config.allowedClients && compiled.ok ? compiled.matches : undefined;
    this.metrics.certificateExpiry.set({ listener: name }, this.material.notAfterMs / 1000);
  }

  /** Loads and checks the pair (a bad one fails startup) and starts watching the files. */
  static start(
    name: 'grpc' | 'http',
    config: TlsListenerConfig,
    deps: Deps,
    metrics: TlsMetrics,
    pollMs = DEFAULT_TLS_POLL_MS,
  ): ListenerTls {
    const tls = new ListenerTls(name, config, deps, metrics);
    tls.timer = setInterval(() => tls.refresh(), pollMs).unref();
    return tls;
  }

  private get field(): string {
    return this.name === 'grpc' ? 'listen.tls' : 'listen.httpTls';
  }

  /** Whether clients must present a certificate signed by clientCaFile. */
  get requiresClientCertificate(): boolean {
    return this.config.clientCaFile !== undefined;
  }

  get context(): SecureContextOptions {
    return this.material.context;
  }

  /** Options for a Node TLS/HTTPS/HTTP2 server; the handshake itself refuses clients without a CA-signed certificate. */
  serverOptions(): TlsOptions {
    return {
      ...this.material.context,
      requestCert: this.requiresClientCertificate,
      rejectUnauthorized: this.requiresClientCertificate,
      minVersion: 'TLSv1.2',
    };
  }

  /** Called with each new validated pair; returns the unsubscribe function. */
  onUpdate(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Wires a Node TLS server (https, http2, tls) to this listener: new pairs go in with
   * setSecureContext, and a client outside allowedClients is disconnected right after the handshake,
   * before a request is read. For servers other than grpc-js, whose TLS server is not reachable.
   */
  attach(server: TlsServer): void {
    const unsubscribe = this.onUpdate((context) => server.setSecureContext(context));
    server.on('close', unsubscribe);
    if (this.allowed) {
      server.on('secureConnection', (socket: TLSSocket) => {
        if (!this.admits(principalOf(socket.getPeerCertificate()))) socket.destroy();
      });
    }
  }

  /**
   * Whether a handshake-verified client, named by its certificate's principal (principalOf), may go
   * on; a refusal is logged and counted. Without allowedClients every client the CA signed is admitted.
   */
  admits(principal: string | undefined): boolean {
    if (!this.allowed) return true;
    if (principal !== undefined && this.allowed(principal)) return true;
    this.metrics.clientsRefused.inc({ listener: this.name });
    this.deps.logger.warn({ listener: this.name, principal: principal ?? null }, 'client certificate not in allowedClients; refused');
    return false;
  }

  /** Not ready once the serving certificate has expired (no client would accept it). */
  status(): { ready: boolean; detail?: string } {
    const expired = this.deps.clock.now() > this.material.notAfterMs;
    return {
      ready: !expired,
      detail: expired ? `serving certificate expired at ${new Date(this.material.notAfterMs).toISOString()}` : undefined,
    };
  }

  /**
   * Reads the files; a changed set is validated and, if good, handed to the servers. A refused set is
   * counted and logged once, not at every poll (a rotation caught halfway shows as a key mismatch until
   * its second file lands). Returns whether it switched.
   */
  refresh(): boolean {
    const files = readTlsFiles(this.config);
    const version = files.ok ? files.digest : `unreadable: ${files.message}`;
    if (version === this.version || version === this.refusedVersion) return false;
    const checked = files.ok ? validateTlsMaterial(files, this.deps.clock.now()) : files;
    if (!checked.ok) {
      this.refusedVersion = version;
      this.metrics.reloads.inc({ listener: this.name, result: 'error' });
      this.deps.logger.error(
        { listener: this.name, error: checked.message },
        `${this.field}: new certificate refused; the previous one keeps serving`,
      );
      return false;
    }
    this.material = checked.material;
    this.version = version;
    this.refusedVersion = undefined;
    for (const listener of this.listeners) listener(this.material.context);
    this.metrics.reloads.inc({ listener: this.name, result: 'success' });
    this.metrics.certificateExpiry.set({ listener: this.name }, this.material.notAfterMs / 1000);
    this.deps.logger.info(
      { listener: this.name, serial: this.material.serialNumber, notAfter: new Date(this.material.notAfterMs).toISOString() },
      `${this.field}: certificate reloaded`,
    );
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** A client certificate's SPIFFE ID: its first URI SAN; undefined without a certificate or one. */
export function principalOf(peer: PeerCertificate | undefined): string | undefined {
  return peer?.subjectaltname ? firstUriSan(peer.subjectaltname) : undefined;
}
