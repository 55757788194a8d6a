import { Counter, Gauge, type Metric, type Registry } from 'prom-client';
import type { RevocationStatus, RevocationType } from './types.js';

export type DenialType = RevocationType | 'store_unavailable';

export interface RevocationMetricsSource {
  counts(): Record<RevocationType | 'refresh', number>;
  status(): RevocationStatus;
}

export interface RevocationMetrics {
  denied(type: DenialType): void;
  /** Put these metrics on the registry, replacing any of the same names (a store this one replaces). */
  register(registry: Registry): void;
  /** Take them off again, unless a newer store has taken the names over. */
  unregister(registry: Registry): void;
}

/**
 * Gauges are computed at scrape time from the store itself, so they can never drift from it. They are
 * created unregistered and registered when the store has started: a replacement store that fails to
 * start (config reload) leaves the running store's metrics in place.
 */
export function createRevocationMetrics(source: RevocationMetricsSource): RevocationMetrics {
  const all: Array<[string, Metric]> = [];
  const gauge = (name: string, help: string, collect: (this: Gauge) => void, labelNames: string[] = []): void => {
    all.push([name, new Gauge({ name, help, labelNames, registers: [], collect })]);
  };
  gauge(
    'tollgate_revocations',
    'Revocation entries in the in-memory mirror, by type',
    function () {
      const counts = source.counts();
      for (const type of ['jti', 'sid', 'sub'] as const) this.set({ type }, counts[type]);
    },
    ['type'],
  );
  gauge('tollgate_revocation_refresh_markers', 'Subjects whose older tokens must be refreshed', function () {
    this.set(source.counts().refresh);
  });
  gauge('tollgate_revocation_store_up', '1 if the revocation store is reachable and the mirror in sync', function () {
    this.set(source.status().up ? 1 : 0);
  });
  gauge(
    'tollgate_revocation_staleness_seconds',
    'Seconds since the revocation mirror was last known to be in sync with the store',
    function () {
      this.set(source.status().stalenessSeconds);
    },
  );
  const denialsName = 'tollgate_revoked_denials_total';
  const denials = new Counter({
    name: denialsName,
    help: 'Checks denied by the revocation stage, by type (jti, sid, sub, store_unavailable)',
    labelNames: ['type'],
    registers: [],
  });
  all.push([denialsName, denials]);
  // Pre-bound children: check() is on the request path, label lookup once per type is enough.
  const children = {
    jti: denials.labels('jti'),
    sid: denials.labels('sid'),
    sub: denials.labels('sub'),
    store_unavailable: denials.labels('store_unavailable'),
  };
  // Present at 0 from the start, so rate() alerts see the first denial.
  for (const type of Object.keys(children)) denials.inc({ type }, 0);
  return {
    denied: (type) => children[type].inc(),
    register(registry) {
      for (const [name, metric] of all) {
        registry.removeSingleMetric(name);
        registry.registerMetric(metric);
      }
    },
    unregister(registry) {
      for (const [name, metric] of all) {
        if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name);
      }
    },
  };
}
