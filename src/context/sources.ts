import type { Logger } from '../observability/logger.js';
import type { CounterSeries } from '../observability/scrape-metrics.js';
import { repeatLimiter } from '../util/repeat-limiter.js';
import type { ContextQuery } from '../policy/index.js';
import type { Clock } from '../util/clock.js';
import { ContextRoleCache, type RolesAnswer } from './cache.js';
import type { ContextSourceConfig } from './config.js';
import { fetchRoles, type FailureCause } from './http-source.js';
import type { ContextMetrics } from './metrics.js';
import { loggedText } from '../util/log-text.js';

/** What the pipeline needs: an answer per query, never a rejection (failures are answers too). */
export interface ContextRoleResolver {
  resolve(query: ContextQuery): Promise<RolesAnswer>;
}

class ContextSource {
  readonly cache: ContextRoleCache;
  private readonly labels: { source: string };
  private readonly lookups: CounterSeries;
  private readonly hits: CounterSeries;
  /**
   * A source that is down fails every check that asks it: one line a minute per cause says so. One
   * limiter per cause, so a source flapping between two causes is not logged on every check.
   */
  private readonly limiters = new Map<string, ReturnType<typeof repeatLimiter>>();

  constructor(
    private readonly config: ContextSourceConfig,
    private readonly clock: Clock,
    private readonly metrics: ContextMetrics,
    private readonly logger: Logger,
  ) {
    this.cache = new ContextRoleCache(config, clock);
    this.labels = { source: config.name };
    this.lookups = metrics.lookups.labels(this.labels);
    this.hits = metrics.hits.labels(this.labels);
  }

  resolve(query: ContextQuery): Promise<RolesAnswer> {
    this.lookups.inc();
    let cached = true;
    const answer = this.cache.get(
      query,
      () => {
        cached = false;
        return this.call(query);
      },
      () => this.hits.inc(),
    );
    // At debug level, each fallback says whether the source answered, from the cache or not (the
    // policy's own "not asked: the token lists this id" is in `tollgate check`'s explanation).
    if (this.logger.isLevelEnabled('debug'))
      void answer.then((a) =>
        this.logger.debug(
          { source: this.config.name, context: query.context, id: loggedText(query.id), cached, answered: a.ok },
          a.ok ? 'context source asked' : 'context source asked; it failed',
        ),
      );
    return answer;
  }

  private async call(query: ContextQuery): Promise<RolesAnswer> {
    this.metrics.misses.inc(this.labels);
    const stop = this.metrics.latency.startTimer(this.labels);
    const answer = await fetchRoles(this.config.http, query);
    stop();
    if (!answer.ok) {
      this.metrics.failures.inc(this.labels);
      this.logFailure(answer.cause ?? 'answer', answer.status);
      return { ok: false };
    }
    return { ok: true, roles: answer.roles };
  }

  /** The cause, never the subject or the URL (which holds the subject): logs say what failed, not who asked. */
  private logFailure(cause: FailureCause, status: number | undefined): void {
    const detail = cause === 'status' ? `HTTP ${status}` : CAUSE_TEXT[cause];
    let limiter = this.limiters.get(detail);
    if (!limiter) this.limiters.set(detail, (limiter = repeatLimiter(this.clock)));
    const { log, repeated } = limiter(detail);
    if (!log) return;
    this.logger.warn(
      { source: this.config.name, cause, status, ...(repeated > 0 && { repeated }) },
      `context source failed (${detail}); checks that need it are denied context_source_unavailable`,
    );
  }
}

const CAUSE_TEXT: Record<Exclude<FailureCause, 'status'>, string> = {
  timeout: 'timed out',
  network: 'network error',
  answer: 'the answer is not {"roles": [...]}',
  url: 'a value would be a "." or ".." path segment',
};

/** The configured sources, by name, each with its own cache. */
export class ContextSources implements ContextRoleResolver {
  private readonly sources = new Map<string, ContextSource>();

  constructor(configs: readonly ContextSourceConfig[], clock: Clock, metrics: ContextMetrics, logger: Logger) {
    for (const config of configs) this.sources.set(config.name, new ContextSource(config, clock, metrics, logger));
  }

  /** The config's cross-check makes every fallback name a source; an unknown one fails closed anyway. */
  resolve(query: ContextQuery): Promise<RolesAnswer> {
    return this.sources.get(query.source)?.resolve(query) ?? Promise.resolve({ ok: false });
  }

  /** `sub` null: a change this replica may have missed (store resync), so everything goes. */
  invalidate(sub: string | null): void {
    for (const source of this.sources.values()) {
      if (sub === null) source.cache.dropAll();
      else source.cache.dropSubject(sub);
    }
  }
}
