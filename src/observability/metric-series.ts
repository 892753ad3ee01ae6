// Counters, gauges and histograms with labels, for metrics updated on every request. prom-client hashes the label
// object on every update (a string of every `name:value` pair, then a property lookup with it), which costs about
// a microsecond and a few hundred bytes of garbage per update; here a series is an object the caller looks up once
// per label tuple and keeps, and an update is an addition. The families register with a prom-client Registry and
// hand it the same data its own metric classes would (same series order, label order, bucket and value
// formatting), so the exposition is unchanged.
import type { Registry } from 'prom-client';

export interface SeriesFamilyConfig {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
  readonly registers?: readonly Registry[];
}

export interface HistogramFamilyConfig extends SeriesFamilyConfig {
  readonly buckets: readonly number[];
}

type Labels = Record<string, string>;

/** One sample as prom-client's Registry formats it. */
interface SampleValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  sharedLabels?: Labels;
  /** Histograms: always absent (null or undefined, as prom-client without exemplars). */
  exemplar?: null;
}

interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: SampleValue[];
  aggregator: string;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

abstract class Family<S extends { readonly labels: Labels }> {
  name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  /** Every series ever created, by label tuple. */
  private byTuple = new Map<string, S>();
  /** Series that have been updated, in the order of their first update (prom-client's order). */
  protected listed: S[] = [];

  constructor(config: SeriesFamilyConfig) {
    if (!METRIC_NAME.test(config.name)) throw new Error('Invalid metric name');
    const labelNames = config.labelNames ?? [];
    if (!labelNames.every((l) => LABEL_NAME.test(l) && !l.startsWith('__'))) throw new Error('Invalid label name');
    this.name = config.name;
    this.help = config.help;
    this.labelNames = labelNames;
    for (const registry of config.registers ?? []) registry.registerMetric(this as never);
  }

  /** The series of these label values (in labelNames order); created on the first call, the same object after. */
  labels(...values: (string | number)[]): S {
    if (values.length !== this.labelNames.length) throw new Error('Invalid number of arguments');
    const tuple = values.join('\u0000');
    let series = this.byTuple.get(tuple);
    if (series === undefined) {
      const labels: Labels = {};
      for (let i = 0; i < values.length; i++) labels[this.labelNames[i]] = String(values[i]);
      series = this.create(labels);
      this.byTuple.set(tuple, series);
    }
    return series;
  }

  /** Forgets every series (prom-client's reset()); series objects held by callers are detached. */
  reset(): void {
    for (const series of this.byTuple.values()) this.detach(series);
    this.byTuple = new Map();
    this.listed = [];
  }

  /** Called by a series on its first update. */
  list(series: S): void {
    this.listed.push(series);
  }

  protected abstract create(labels: Labels): S;
  protected abstract detach(series: S): void;
}

// ---- counters and gauges -------------------------------------------------------------------------

export class CounterSeries {
  readonly labels: Labels;
  value = 0;
  /** null once detached by reset(): updates go nowhere. */
  private family: CounterFamily | null;
  private listed = false;

  constructor(family: CounterFamily, labels: Labels) {
    this.family = family;
    this.labels = labels;
  }

  inc(amount = 1): void {
    if (!Number.isFinite(amount)) throw new TypeError(`Value is not a valid number: ${amount}`);
    if (amount < 0) throw new Error('It is not possible to decrease a counter');
    if (!this.listed) this.list();
    this.value += amount;
  }

  private list(): void {
    this.listed = true;
    this.family?.list(this);
  }

  detach(): void {
    this.family = null;
  }
}

export class CounterFamily extends Family<CounterSeries> {
  readonly type = 'counter';

  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(this, labels);
  }

  protected detach(series: CounterSeries): void {
    series.detach();
  }

  get(): Promise<MetricData> {
    return Promise.resolve({
      help: this.help, name: this.name, type: this.type,
      values: this.listed.map((s) => ({ value: s.value, labels: s.labels })), aggregator: this.aggregator,
    });
  }
}

export class GaugeSeries {
  readonly labels: Labels;
  value = 0;
  private family: GaugeFamily | null;
  private listed = false;

  constructor(family: GaugeFamily, labels: Labels) {
    this.family = family;
    this.labels = labels;
  }

  inc(amount = 1): void {
    if (!this.listed) this.list();
    this.value += amount;
  }

  dec(amount = 1): void {
    if (!this.listed) this.list();
    this.value -= amount;
  }

  set(value: number): void {
    if (!this.listed) this.list();
    this.value = value;
  }

  private list(): void {
    this.listed = true;
    this.family?.list(this);
  }

  detach(): void {
    this.family = null;
  }
}

export class GaugeFamily extends Family<GaugeSeries> {
  readonly type = 'gauge';

  protected create(labels: Labels): GaugeSeries {
    return new GaugeSeries(this, labels);
  }

  protected detach(series: GaugeSeries): void {
    series.detach();
  }

  get(): Promise<MetricData> {
    return Promise.resolve({
      help: this.help, name: this.name, type: this.type,
      values: this.listed.map((s) => ({ value: s.value, labels: s.labels })), aggregator: this.aggregator,
    });
  }
}

// ---- histograms ----------------------------------------------------------------------------------

export class HistogramSeries {
  readonly labels: Labels;
  /** Observations per bucket (not cumulative); a value above the last bound is only in sum and count. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  private readonly bounds: readonly number[];
  private family: HistogramFamily | null;
  private listed = false;

  constructor(family: HistogramFamily, labels: Labels, bounds: readonly number[]) {
    this.family = family;
    this.labels = labels;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    if (!this.listed) this.list();
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }

  private list(): void {
    this.listed = true;
    this.family?.list(this);
  }

  detach(): void {
    this.family = null;
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = 'histogram';
  readonly upperBounds: readonly number[];

  constructor(config: HistogramFamilyConfig) {
    super(config);
    if (this.labelNames.includes('le')) throw new Error('le is a reserved label keyword');
    this.upperBounds = [...config.buckets];
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(this, labels, this.upperBounds);
  }

  protected detach(series: HistogramSeries): void {
    series.detach();
  }

  /** What prom-client's Histogram gives the Registry: `le` first, the series' labels as shared labels. */
  getForPromString(): Promise<MetricData> {
    const bucket = `${this.name}_bucket`;
    const values: SampleValue[] = [];
    for (const s of this.listed) {
      let cumulative = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        cumulative += s.counts[i];
        values.push({ labels: { le: this.upperBounds[i] }, sharedLabels: s.labels, value: cumulative, metricName: bucket, exemplar: null });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** As prom-client's get(): shared labels merged into each sample's labels. */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }
}
