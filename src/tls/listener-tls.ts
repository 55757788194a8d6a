import type { PeerCertificate, SecureContextOptions, Server as TlsServer, TLSSocket, TlsOptions } from 'node:tls';
import { ConfigError } from '../util/config-error.js';
import type { Deps } from '../observability/deps.js';
import { compilePrincipals, firstUriSan, type PrincipalMatcher } from '../policy/peer.js';
import type { Caller } from '../util/caller.js';
import { readTlsFiles, validateTlsMaterial, type FileRead, type TlsMaterial } from './material.js';
import { tryServing } from './trial.js';
import type { TlsMetrics } from './metrics.js';
import type { TlsListenerConfig } from './schema.js';
import { loggedText } from '../util/log-text.js';
import { LogLineLimiter } from '../observability/log-limiter.js';

/** How often the files are compared with what serves: well inside the 5 s a rotation may take to show. */
export const DEFAULT_TLS_POLL_MS = 1000;

type Listener = (context: SecureContextOptions) => void;

/** Refusal lines logged per second per listener; every refusal is counted in tollgate_tls_clients_refused_total. */
const REFUSED_LINES_PER_SECOND = 20;

/**
 * The TLS side of one listener: the pair in use, reloaded when the files change (cert-manager and
 * SPIRE rotate hourly or faster), and the allowedClients check. Polling rather than fs.watch: a
 * Kubernetes Secret update swaps a symlink, which some file systems report late or not at all, and
 * three small reads a second cost nothing. A changed set is validated first and then tried as it will
 * serve (a secure context and a handshake, see trial.ts); a bad one is refused with a log line and the
 * last good pair keeps serving. Only new connections see the new pair: open
 * connections and their in-flight checks carry on.
 */
export class ListenerTls {
  /** Digest of the last set refused (`version`: of the set that serves). */
  private refusedVersion: string | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly allowed: PrincipalMatcher | undefined;
  private readonly refusedLines: LogLineLimiter;
  private timer: NodeJS.Timeout | undefined;
  /** A poll that finds a refresh still trying its pair skips its turn. */
  private refreshing = false;

  private constructor(
    readonly name: 'grpc' | 'http',
    private readonly config: TlsListenerConfig,
    private readonly deps: Deps,
    private readonly metrics: TlsMetrics,
    private material: TlsMaterial,
    private version: string,
  ) {
    const compiled = compilePrincipals(config.allowedClients ?? []);
    this.allowed = config.allowedClients && compiled.ok ? compiled.matches : undefined;
    this.refusedLines = new LogLineLimiter(
      () => REFUSED_LINES_PER_SECOND,
      deps.clock,
      () => undefined,
    );
    this.metrics.certificateExpiry.set({ listener: name }, this.material.notAfterMs / 1000);
  }

  /** Loads, checks and tries the pair (one that cannot serve is a ConfigError) and starts watching the files. */
  static async start(
    name: 'grpc' | 'http',
    config: TlsListenerConfig,
    deps: Deps,
    metrics: TlsMetrics,
    pollMs = DEFAULT_TLS_POLL_MS,
  ): Promise<ListenerTls> {
    const files = readTlsFiles(config);
    const checked = await checkFiles(files, deps.clock.now());
    if (!checked.ok) throw new ConfigError([`${fieldOf(name)}: ${checked.message}`]);
    const tls = new ListenerTls(name, config, deps, metrics, checked.material, files.ok ? files.digest : '');
    tls.timer = setInterval(() => void tls.refresh(), pollMs).unref();
    return tls;
  }

  private get field(): string {
    return fieldOf(this.name);
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
    // A refused workload may reconnect in a loop: every refusal is counted, a few a second are logged.
    const skipped = this.refusedLines.admit();
    if (skipped !== null)
      this.deps.logger.warn(
        { listener: this.name, principal: loggedText(principal) ?? null, refusedLinesSkipped: skipped || undefined },
        'client certificate not in allowedClients; refused',
      );
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
   * Reads the files; a changed set is validated, tried and, if good, handed to the servers. A refused
   * set is counted and logged once, not at every poll (a rotation caught halfway shows as a key
   * mismatch until its second file lands). Resolves with whether it switched; never rejects: it runs
   * from a timer, where a rejection would end the process.
   */
  async refresh(): Promise<boolean> {
    if (this.refreshing) return false;
    this.refreshing = true;
    try {
      return await this.refreshNow();
    } catch (err) {
      this.refuse(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    } finally {
      this.refreshing = false;
    }
  }

  private async refreshNow(): Promise<boolean> {
    const files = readTlsFiles(this.config);
    const version = files.ok ? files.digest : `unreadable: ${files.message}`;
    if (version === this.version || version === this.refusedVersion) return false;
    const checked = await checkFiles(files, this.deps.clock.now());
    if (!checked.ok) {
      this.refusedVersion = version;
      this.refuse(checked.message);
      return false;
    }
    // The trial passed, so a server is not expected to refuse the pair; if one does, it keeps its own
    // and says so, and the others switch.
    for (const listener of this.listeners) {
      try {
        listener(checked.material.context);
      } catch (err) {
        this.deps.logger.error(
          { listener: this.name, error: err instanceof Error ? err.message : String(err) },
          `${this.field}: a server refused the new certificate and keeps its previous one`,
        );
      }
    }
    this.material = checked.material;
    this.version = version;
    this.refusedVersion = undefined;
    this.metrics.reloads.inc({ listener: this.name, result: 'success' });
    this.metrics.certificateExpiry.set({ listener: this.name }, this.material.notAfterMs / 1000);
    this.deps.logger.info(
      { listener: this.name, serial: this.material.serialNumber, notAfter: new Date(this.material.notAfterMs).toISOString() },
      `${this.field}: certificate reloaded`,
    );
    return true;
  }

  private refuse(message: string): void {
    this.metrics.reloads.inc({ listener: this.name, result: 'error' });
    this.deps.logger.error(
      { listener: this.name, error: message },
      `${this.field}: new certificate refused; the previous one keeps serving`,
    );
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function fieldOf(name: 'grpc' | 'http'): string {
  return name === 'grpc' ? 'listen.tls' : 'listen.httpTls';
}

/** The checks of validateTlsMaterial, then the trial the way the pair will serve. */
async function checkFiles(files: FileRead, nowMs: number): Promise<{ ok: true; material: TlsMaterial } | { ok: false; message: string }> {
  const checked = files.ok ? validateTlsMaterial(files, nowMs) : files;
  if (!checked.ok) return checked;
  const unusable = await tryServing(checked.material.context);
  return unusable === undefined ? checked : { ok: false, message: unusable };
}

/** A client certificate's SPIFFE ID: its first URI SAN; undefined without a certificate or one. */
export function principalOf(peer: PeerCertificate | undefined): string | undefined {
  return peer?.subjectaltname ? firstUriSan(peer.subjectaltname) : undefined;
}

/**
 * The verified client certificate as a Caller (its SPIFFE ID, if any, and its DER); undefined without
 * one (Node answers `{}` when the client presented none).
 */
export function callerFrom(peer: PeerCertificate | undefined): Caller | undefined {
  return peer?.raw ? { id: principalOf(peer), certificate: peer.raw } : undefined;
}
