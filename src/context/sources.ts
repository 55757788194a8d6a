import type { CounterSeries } from '../observability/scrape-metrics.js';
import type { ContextQuery } from '../policy/index.js';
import type { Clock } from '../util/clock.js';
import { ContextRoleCache, type RolesAnswer } from './cache.js';
import type { ContextSourceConfig } from './config.js';
import { fetchRoles } from './http-source.js';
import type { ContextMetrics } from './metrics.js';

/** What the pipeline needs: an answer per query, never a rejection (failures are answers too). */
export interface ContextRoleResolver {
  resolve(query: ContextQuery): Promise<RolesAnswer>;
}

class ContextSource {
  readonly cache: ContextRoleCache;
  private readonly labels: { source: string };
  private readonly lookups: CounterSeries;
  private readonly hits: CounterSeries;

  constructor(
    private readonly config: ContextSourceConfig,
    clock: Clock,
    private readonly metrics: ContextMetrics,
  ) {
    this.cache = new ContextRoleCache(config, clock);
    this.labels = { source: config.name };
    this.lookups = metrics.lookups.labels(this.labels);
    this.hits = metrics.hits.labels(this.labels);
  }

  resolve(query: ContextQuery): Promise<RolesAnswer> {
    this.lookups.inc();
    return this.cache.get(
      query,
      () => this.call(query),
      () => this.hits.inc(),
    );
  }

  private async call(query: ContextQuery): Promise<RolesAnswer> {
    this.metrics.misses.inc(this.labels);
    const stop = this.metrics.latency.startTimer(this.labels);
    const answer = await fetchRoles(this.config.http, query);
    stop();
    if (!answer.ok) {
      this.metrics.failures.inc(this.labels);
      return { ok: false };
    }
    return { ok: true, roles: answer.roles };
  }
}

/** The configured sources, by name, each with its own cache. */
export class ContextSources implements ContextRoleResolver {
  private readonly sources = new Map<string, ContextSource>();

  constructor(configs: readonly ContextSourceConfig[], clock: Clock, metrics: ContextMetrics) {
    for (const config of configs) this.sources.set(config.name, new ContextSource(config, clock, metrics));
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
