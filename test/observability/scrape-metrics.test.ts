import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ScrapeCounter, ScrapeHistogram } from '../../src/observability/scrape-metrics.js';

/** The scrape-time metrics must expose exactly what prom-client's own would for the same events. */
describe('scrape-time metrics', () => {
  const buckets = [0.001, 0.01, 0.1];
  const observations = [0.0005, 0.001, 0.002, 0.05, 0.5, 3, 0.01];

  it('write the same exposition text as prom-client Counter and Histogram', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const counter = new ScrapeCounter({ name: 'c_total', help: 'a counter', labelNames: ['a', 'b'], registers: [ours] });
    const reference = new Counter({ name: 'c_total', help: 'a counter', labelNames: ['a', 'b'] as const, registers: [theirs] });
    const series = counter.labels({ a: 'x', b: 'y"\\' });
    for (let i = 0; i < 3; i++) series.inc();
    counter.inc({ a: 'z', b: '' });
    reference.inc({ a: 'x', b: 'y"\\' }, 3);
    reference.inc({ a: 'z', b: '' });

    const histogram = new ScrapeHistogram({ name: 'h_seconds', help: 'a histogram', buckets, registers: [ours] });
    const referenceHistogram = new Histogram({ name: 'h_seconds', help: 'a histogram', buckets, registers: [theirs] });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const v of observations) {
      histogram.observe(v);
      referenceHistogram.observe(v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());

    const labelled = new ScrapeHistogram({
      name: 'l_seconds',
      help: 'by transport',
      labelNames: ['transport'],
      buckets,
      registers: [ours],
    });
    const referenceLabelled = new Histogram({
      name: 'l_seconds',
      help: 'by transport',
      labelNames: ['transport'],
      buckets,
      registers: [theirs],
    });
    const grpc = labelled.labels({ transport: 'grpc' });
    for (const v of observations) {
      grpc.observe(v);
      referenceLabelled.observe({ transport: 'grpc' }, v);
    }
    labelled.labels({ transport: 'http' }).observe(0.003);
    referenceLabelled.observe({ transport: 'http' }, 0.003);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('keep counting on a series handle across scrapes', async () => {
    const registry = new Registry();
    const counter = new ScrapeCounter({ name: 'n_total', help: 'n', labelNames: ['r'], registers: [registry] });
    const hit = counter.labels({ r: 'hit' });
    hit.inc();
    expect(await registry.metrics()).toContain('n_total{r="hit"} 1');
    hit.inc(2);
    expect(counter.labels({ r: 'hit' })).toBe(hit);
    expect(await registry.metrics()).toContain('n_total{r="hit"} 3');
  });
});
