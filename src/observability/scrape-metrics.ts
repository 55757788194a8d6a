import type { Metric, Registry } from 'prom-client';

/**
 * Metrics for the Check hot path, kept as plain numbers and turned into Prometheus series only when
 * /metrics is scraped. prom-client hashes a label object on every `inc` and every `observe` (its
 * label-bound children included); at tens of thousands of checks a second that cost showed (about
 * 0.9 µs of a 5 µs cached check, bench/hot-path.mjs). Here a check adds to a number it already holds.
 */
/** What prom-client's Registry reads from a metric's `get()` to write its lines. */
interface ScrapedMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ metricName?: string; labels: Readonly<Record<string, string | number>>; value: number }>;
}

interface ScrapeMetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers: Registry[];
}

/** One labelled series of a ScrapeCounter: `inc` is an addition. */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/**
 * What both kinds share: a name, help, label names, and one series per label combination, created at
 * first use and kept by callers so that counting needs no look-up.
 */
abstract class ScrapeMetric<L extends string, S extends { labels: Readonly<Record<string, string>> }> {
  abstract readonly type: ScrapedMetric['type'];
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  protected readonly labelNames: readonly L[];
  protected readonly series = new Map<string, S>();

  constructor(options: ScrapeMetricOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  protected abstract newSeries(labels: Readonly<Record<string, string>>): S;
  protected abstract values(): ScrapedMetric['values'];

  /** The series for these label values, created at first use; keep it to count without a look-up. */
  labels(labels: Record<L, string>): S {
    const key = this.labelNames.map((n) => labels[n]).join('\u0000');
    let series = this.series.get(key);
    if (!series) {
      series = this.newSeries({ ...labels });
      this.series.set(key, series);
    }
    return series;
  }

  get(): Promise<ScrapedMetric> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() });
  }

  reset(): void {
    this.series.clear();
  }
}

export class ScrapeCounter<L extends string = never> extends ScrapeMetric<L, CounterSeries> {
  readonly type = 'counter';

  protected newSeries(labels: Readonly<Record<string, string>>): CounterSeries {
    return new CounterSeries(labels);
  }

  inc(labels: Record<L, string>): void {
    this.labels(labels).inc();
  }

  protected values(): ScrapedMetric['values'] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value }));
  }
}

/** One labelled series of a ScrapeHistogram: one bucket increment and two additions per observation. */
export class HistogramSeries {
  counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly buckets: readonly number[],
  ) {
    this.counts = new Float64Array(buckets.length);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const { buckets } = this;
    for (let i = 0; i < buckets.length; i++) {
      if (value <= buckets[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

export class ScrapeHistogram<L extends string = never> extends ScrapeMetric<L, HistogramSeries> {
  readonly type = 'histogram';
  private readonly buckets: readonly number[];

  constructor(options: ScrapeMetricOptions<L> & { buckets: readonly number[] }) {
    super(options);
    this.buckets = [...options.buckets].sort((a, b) => a - b);
    // prom-client shows a label-less histogram's zero buckets before the first observation; so do we.
    if (this.labelNames.length === 0) this.labels({} as Record<L, string>);
  }

  protected newSeries(labels: Readonly<Record<string, string>>): HistogramSeries {
    return new HistogramSeries(labels, this.buckets);
  }

  observe(value: number): void {
    this.labels({} as Record<L, string>).observe(value);
  }

  protected values(): ScrapedMetric['values'] {
    const values: ScrapedMetric['values'] = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += series.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...series.labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...series.labels }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    }
    return values;
  }

  override reset(): void {
    super.reset();
    if (this.labelNames.length === 0) this.labels({} as Record<L, string>);
  }
}
