import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Registry } from 'prom-client';
import { createAdminHandler } from '../admin/index.js';
import { configHash, loadConfigFile, type LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Deps } from '../observability/deps.js';
import { DecisionLog } from '../observability/decision-log.js';
import { LogLineLimiter } from '../observability/log-limiter.js';
import { noTracing, startTracing, type Tracing } from '../observability/tracing.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { logLinesDropped } from '../observability/metrics.js';
import { createCheckMetrics, type CheckMetrics } from '../observability/metrics.js';
import { createRevocationStore, type RevocationStore } from '../revocation/index.js';
import { startListenersTls, type ListenersTls } from '../tls/index.js';
import { InternalTokens } from '../internal-tokens/index.js';
import { systemClock, type Clock } from '../util/clock.js';
import { watchFile } from '../util/file-watch.js';
import { repeatLimiter } from '../util/repeat-limiter.js';
import { startAuthzServer } from './authz-http/server.js';
import { createCheckHandler, createChecker } from './check.js';
import { ReplayGuard } from '../pipeline/dpop-replay.js';
import { startGrpcServer, type GrpcServer } from './grpc.js';
import { httpsServer, startHttpServer, type HttpServer } from './http.js';
import type { HttpHandler } from '../util/http-reply.js';
import { readinessOf, type Readiness } from './readiness.js';
import { listening } from './listen-error.js';
import { buildRuntime, type Runtime, type RuntimeConfig } from './runtime.js';

export interface TollgateOptions {
  configPath: string;
  clock?: Clock;
  logger?: Logger;
  /** Reload when the config file (or a ConfigMap's symlink) changes. Default true. */
  watchConfig?: boolean;
  /** How often TLS certificate files and internalTokens.keysDir are compared with what is in use (ms). Default 1000. */
  tlsPollMs?: number;
}

/**
 * One running tollgate: the gRPC and HTTP servers, the current Runtime (swapped on reload) and the
 * revocation store (kept across reloads while its config is unchanged).
 */
export class Tollgate {
  private runtime!: Runtime;
  private revocation: RevocationStore | undefined;
  private decisionLog: DecisionLog | undefined;
  private admin: HttpHandler | undefined;
  private grpc!: GrpcServer;
  private http!: HttpServer;
  private tls: ListenersTls = { all: [] };
  private internalTokens: InternalTokens | undefined;
  /** DPoP proofs seen, kept across reloads: a reload must not make a spent proof good again. */
  private readonly replayGuard: ReplayGuard;
  /** Undefined with `listen.authz: off`. */
  private authz: HttpServer | undefined;
  /** The admin API's own listener, with `admin.listen`. */
  private adminHttp: HttpServer | undefined;
  private unwatch: (() => void) | undefined;
  private configHash = '';
  /** The content last rejected: the watch does not retry it until the file changes again. */
  private rejectedHash: string | undefined;
  private readonly limitRepeats: ReturnType<typeof repeatLimiter>;
  private draining = false;
  private healthTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();

  private constructor(
    private readonly configPath: string,
    private readonly deps: Deps,
    private readonly metrics: CheckMetrics,
  ) {
    // The same rejected config is logged at most once a minute when the watch retries it.
    this.limitRepeats = repeatLimiter(deps.clock);
    this.replayGuard = new ReplayGuard(() => deps.clock.now());
  }

  static async start(options: TollgateOptions): Promise<Tollgate> {
    const loaded = loadConfigFile(options.configPath);
    const registry = new Registry();
    // Tracing is set up once, from the config at start (like the listen addresses).
    const tracing = loaded.config.tracing ? await startTracing(loaded.config.tracing) : noTracing;
    const dropped = logLinesDropped(registry);
    const deps: Deps = {
      logger: options.logger ?? createLogger(loaded.config.log.level, undefined, loaded.config.log.format, () => dropped.inc()),
      registry,
      clock: options.clock ?? systemClock,
      tracing,
    };
    const app: Tollgate = new Tollgate(
      loaded.path,
      deps,
      createCheckMetrics(registry, {
        tokenCacheEntries: () => app.runtime?.verifier.cacheSize ?? 0,
        dpopReplayEntries: () => app.replayGuard.size,
      }),
    );
    await app.init(loaded, options.watchConfig ?? true, options.tlsPollMs);
    return app;
  }

  get grpcPort(): number {
    return this.grpc.port;
  }

  get httpPort(): number {
    return this.http.port;
  }

  /** The admin API's own port with `admin.listen`; 0 when the admin API is on the HTTP port (or off). */
  get adminPort(): number {
    return this.adminHttp?.port ?? 0;
  }

  /** The HTTP authorization port's bound port; 0 with `listen.authz: off`. */
  get authzPort(): number {
    return this.authz?.port ?? 0;
  }

  get config(): RuntimeConfig {
    return this.runtime.config;
  }

  /**
   * Starts everything, all or nothing: when a part fails (a listener cannot bind, a store cannot start),
   * what was started is closed again before the error goes up, so the process exits instead of
   * answering on some ports and not others.
   */
  private async init(loaded: LoadedConfig, watchConfig: boolean, tlsPollMs: number | undefined): Promise<void> {
    const started: Array<() => unknown> = [];
    try {
      await this.startAll(loaded, watchConfig, tlsPollMs, started);
    } catch (err) {
      for (const close of started.reverse()) {
        try {
          await close();
        } catch {
          // Closing what half-started is best effort; the start failure is what the operator needs.
        }
      }
      throw err;
    }
  }

  /** The start itself; each part pushes how to close it onto `started` once it runs. */
  private async startAll(
    loaded: LoadedConfig,
    watchConfig: boolean,
    tlsPollMs: number | undefined,
    started: Array<() => unknown>,
  ): Promise<void> {
    const { config } = loaded;
    this.configHash = loaded.hash;
    started.push(() => this.tracing.shutdown());
    // First: a certificate pair that cannot serve fails startup before anything listens.
    this.tls = await startListenersTls(config.listen, this.deps, tlsPollMs);
    started.push(() => this.tls.all.forEach((tls) => tls.stop()));
    this.internalTokens = config.internalTokens && new InternalTokens(config.internalTokens, this.deps).start(tlsPollMs);
    started.push(() => this.internalTokens?.stop());
    this.runtime = buildRuntime(config, this.deps);
    started.push(() => this.runtime.stop());
    await this.runtime.start();
    started.push(() => this.revocation?.stop());
    await this.swapRevocation(config);
    started.push(() => this.decisionLog?.stop());
    this.swapDecisionLog(config);
    const onError = (err: unknown) => this.deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'internal error');
    const check = createChecker({
      runtime: () => this.runtime,
      revocation: () => this.revocation,
      metrics: this.metrics,
      logger: this.deps.logger,
      internalTokens: () => this.internalTokens,
      decisionLog: () => this.decisionLog,
      denialLines: new LogLineLimiter(
        () => this.runtime.config.log.denialsPerSecond,
        this.deps.clock,
        () => this.metrics.logDenialsSkipped.inc(),
      ),
      tracing: this.tracing,
      replayGuard: this.replayGuard,
    });
    // No closure made here may read `config`: the ones kept for the life of the process (onError, the
    // checker's) share this scope, and through `config.rules` they kept every parsed rule of the first
    // config, and through the compile cache what those rules compiled to.
    const { grpc: grpcAddress, http: httpAddress } = config.listen;
    const grpcLimits = config.limits.grpc;
    this.grpc = await listening('listen.grpc', grpcAddress, () =>
      startGrpcServer(grpcAddress, createCheckHandler(check), onError, { tls: this.tls.grpc, limits: grpcLimits }),
    );
    started.push(() => this.grpc.shutdown(0));
    // listen.httpTls covers this port too: HTTPS, and with a client CA only the proxies it names.
    const httpTls = this.tls.http;
    const authzAddress = config.listen.authz;
    if (authzAddress !== 'off') {
      const authz = await listening('listen.authz', authzAddress, () =>
        startAuthzServer({
          address: authzAddress,
          check: check.http,
          requestOptions: () => this.runtime.config.authz,
          onError,
          createServer: httpTls && ((listener) => httpsServer(httpTls, listener)),
        }),
      );
      this.authz = authz;
      started.push(() => authz.close());
    }
    const adminAddress = config.admin?.listen;
    this.http = await listening('listen.http', httpAddress, () =>
      startHttpServer({
        address: httpAddress,
        registry: () => this.deps.registry,
        readiness: () => this.readiness(),
        // With admin.listen the admin API has a port of its own and is not served here.
        handlers: () => [this.internalTokens?.handle, adminAddress ? undefined : this.admin].filter((h) => h !== undefined),
        onError,
        tls: this.tls.http,
      }),
    );
    started.push(() => this.http.close());
    if (adminAddress) {
      const adminHttp = await listening('admin.listen', adminAddress, () =>
        startHttpServer({
          address: adminAddress,
          handlers: () => (this.admin ? [this.admin] : []),
          onError,
          tls: this.tls.http,
        }),
      );
      this.adminHttp = adminHttp;
      started.push(() => adminHttp.close());
    }
    if (watchConfig) this.watchConfigFile();
    warnAboutPolicy(config, this.deps.logger);
    this.syncHealth();
    // Readiness changes with time too (keys turning stale, the revocation store out of touch).
    this.healthTimer = setInterval(() => this.syncHealth(), HEALTH_SYNC_MS).unref();
    this.deps.logger.info(
      {
        grpc: boundAddress(config.listen.grpc, this.grpc.port),
        http: boundAddress(config.listen.http, this.http.port),
        authz: this.authz ? boundAddress(authzAddress, this.authz.port) : 'off',
        admin: this.adminHttp && adminAddress ? boundAddress(adminAddress, this.adminHttp.port) : undefined,
        grpcPort: this.grpc.port,
        httpPort: this.http.port,
        authzPort: this.authzPort,
        config: this.configPath,
        providers: config.providers.map((p) => p.name),
        rules: config.rules.length,
      },
      'tollgate serving',
    );
  }

  /**
   * Loads the config file again; a config that fails validation is rejected and the old one keeps
   * serving. `signal`: an operator asked (SIGHUP) and gets an answer in the log every time, even for
   * content already rejected; the file watch's own repeats are logged at most once a minute.
   */
  reload(trigger: 'signal' | 'watch' = 'watch'): Promise<void> {
    // Reloads run one after another, never interleaved.
    this.reloading = this.reloading.then(() => this.reloadNow(trigger));
    return this.reloading;
  }

  private async reloadNow(trigger: 'signal' | 'watch'): Promise<void> {
    let text: Buffer | undefined;
    try {
      text = readFileSync(this.configPath);
      const loaded = loadConfigFile(this.configPath);
      if (
        JSON.stringify(loaded.config.listen) !== JSON.stringify(this.runtime.config.listen) ||
        loaded.config.admin?.listen !== this.runtime.config.admin?.listen
      ) {
        this.deps.logger.warn(
          'listen settings (or admin.listen) changed: they take effect at the next restart (certificate files themselves reload on change)',
        );
      }
      if (JSON.stringify(loaded.config.internalTokens) !== JSON.stringify(this.runtime.config.internalTokens)) {
        this.deps.logger.warn('internalTokens changed: it takes effect at the next restart (keysDir itself is followed)');
      }
      if (JSON.stringify(loaded.config.tracing) !== JSON.stringify(this.runtime.config.tracing)) {
        this.deps.logger.warn('tracing changed: it takes effect at the next restart');
      }
      const next = buildRuntime(loaded.config, this.deps, this.runtime);
      try {
        await next.start();
        await this.swapRevocation(loaded.config);
      } catch (err) {
        next.stop(this.runtime); // new key managers only; the running config keeps its own
        throw err;
      }
      this.swapDecisionLog(loaded.config);
      const previous = this.runtime;
      this.runtime = next;
      this.configHash = loaded.hash;
      this.rejectedHash = undefined;
      previous.stop(next);
      this.syncHealth();
      this.metrics.configReloads.inc({ result: 'success' });
      this.deps.logger.info({ config: this.configPath }, 'config reloaded');
      warnAboutPolicy(loaded.config, this.deps.logger);
    } catch (err) {
      this.metrics.configReloads.inc({ result: 'error' });
      if (text) this.rejectedHash = configHash(text);
      const error = err instanceof Error ? err.message : String(err);
      const { log, repeated } = this.limitRepeats(error);
      if (log || trigger === 'signal')
        this.deps.logger.error(
          { config: this.configPath, err: error, ...(repeated ? { repeated } : {}) },
          'config reload rejected; the previous config keeps serving',
        );
    }
  }

  private async swapRevocation(config: Config): Promise<void> {
    const current = this.runtime?.config;
    const unchanged = this.revocation && JSON.stringify(current?.revocation) === JSON.stringify(config.revocation);
    if (!unchanged) {
      const previous = this.revocation;
      const next = config.revocation ? createRevocationStore(config.revocation, this.deps) : undefined;
      // A subject's permission refresh or revocation, from any replica, drops its cached context roles.
      next?.onSubjectChange((sub) => this.runtime.contextSources.invalidate(sub));
      try {
        await next?.start();
      } catch (err) {
        await next?.stop(); // a store that failed to start must not go on reconnecting in the background
        throw err;
      }
      this.revocation = next;
      await previous?.stop();
    }
    this.admin =
      this.revocation && config.admin ? createAdminHandler({ store: this.revocation, admin: config.admin, deps: this.deps }) : undefined;
  }

  /** A changed `decisionLog` section starts a new log; the old one writes what it has queued and ends. */
  private swapDecisionLog(config: Config): void {
    const unchanged = this.decisionLog && JSON.stringify(this.runtime?.config.decisionLog) === JSON.stringify(config.decisionLog);
    if (unchanged) return;
    const previous = this.decisionLog;
    this.decisionLog =
      config.decisionLog &&
      new DecisionLog(config.decisionLog, { logger: this.deps.logger, clock: this.deps.clock, dropped: this.metrics.decisionLogDropped });
    void previous?.stop();
  }

  /** gRPC health mirrors /healthz and /readyz, so Kubernetes probes and Envoy's health checks agree with HTTP. */
  private syncHealth(): void {
    this.grpc.setHealth({ live: !this.draining, ready: this.readiness().ready });
  }

  private readiness(): Readiness {
    return readinessOf({
      config: this.runtime.config.readiness,
      draining: this.draining,
      providers: this.runtime.providers.map((p) => ({ name: p.config.name, keys: p.keys?.status() })),
      listeners: Object.fromEntries(this.tls.all.map((tls) => [`tls:${tls.name}`, tls.status()])),
      revocation: this.revocation?.status(),
    });
  }

  /** Reloads when the file's content changes to something neither serving nor already rejected. */
  private watchConfigFile(): void {
    this.unwatch = watchFile(
      this.configPath,
      () => {
        let text: Buffer;
        try {
          text = readFileSync(this.configPath);
        } catch {
          return; // mid-swap; the next event brings the new file
        }
        const hash = configHash(text);
        if (hash !== this.configHash && hash !== this.rejectedHash) void this.reload();
      },
      (err) => this.deps.logger.warn({ err: err.message }, 'config watch failed; SIGHUP still reloads'),
    );
    this.deps.logger.debug({ file: basename(this.configPath) }, 'watching config for changes');
  }

  /**
   * Health goes NOT_SERVING while Check is still answered for `notServingSeconds`; then no new calls are
   * taken, in-flight checks finish, and everything is closed within `drainSeconds` of the start.
   */
  async stop(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    clearInterval(this.healthTimer);
    const { notServingSeconds, drainSeconds } = this.runtime.config.shutdown;
    this.syncHealth();
    this.unwatch?.();
    if (notServingSeconds > 0) await new Promise((resolve) => setTimeout(resolve, notServingSeconds * 1000));
    await this.grpc.shutdown((drainSeconds - notServingSeconds) * 1000);
    await this.authz?.close();
    await this.http.close();
    await this.adminHttp?.close();
    for (const tls of this.tls.all) tls.stop();
    this.internalTokens?.stop();
    this.runtime.stop();
    await this.decisionLog?.stop();
    await this.revocation?.stop();
    await this.tracing.shutdown();
    this.deps.logger.info('tollgate stopped');
  }

  private get tracing(): Tracing {
    return this.deps.tracing ?? noTracing;
  }

  /** Exposed for tests and the bench: the registry this instance reports on /metrics. */
  get registry(): Registry {
    return this.deps.registry;
  }
}

/** A config that is valid but decides every request the same way is almost always a mistake: say so. */
function warnAboutPolicy(config: Config, logger: Logger): void {
  if (config.rules.length === 0) {
    logger.warn(
      { defaultDecision: config.defaultDecision },
      `no rules configured: every request gets defaultDecision (${config.defaultDecision})`,
    );
  }
  if (config.dryRun) logger.warn('dryRun is on: every request is allowed; denials are only logged and counted');
}

/** How often gRPC health is brought in line with readiness. */
const HEALTH_SYNC_MS = 1000;

/** `host:port` as configured, with the port actually bound (port 0 picks one). */
function boundAddress(configured: string, port: number): string {
  return `${configured.slice(0, configured.lastIndexOf(':'))}:${port}`;
}
