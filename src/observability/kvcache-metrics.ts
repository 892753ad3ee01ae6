// kvcache-aware's metrics: Kthena's match ratio and tokenize duration (same names under the prefix), and
// Switchyard's KV event series: events received / lost / replayed per pod and each pod's index size.
import { Gauge, type Registry } from 'prom-client';
import type { PodBlockIndex } from '../engines/kv-events/block-index.ts';
import type { KvEventCounters } from '../engines/kv-events/subscription.ts';
import { CounterFamily, HistogramFamily, type CounterSeries, type HistogramSeries } from './metric-series.ts';
import { MATCH_RATIO_BUCKETS, PLUGIN_DURATION_BUCKETS } from './metric-definitions.ts';

const MAX_MODELS = 1000;

export interface KvIndexSource {
  /** origin, index, trusted now. */
  entries(): Iterable<[string, PodBlockIndex, boolean]>;
}

export class KvCacheMetrics implements KvEventCounters {
  readonly #matchRatio: HistogramFamily;
  readonly #tokenize: HistogramFamily;
  readonly #received: CounterFamily;
  readonly #lost: CounterFamily;
  readonly #replayed: CounterFamily;
  readonly #ratioByModel = new Map<string, HistogramSeries>();
  readonly #tokenizeByModel = new Map<string, HistogramSeries>();
  readonly #byPod = new Map<string, [CounterSeries, CounterSeries, CounterSeries]>();
  #indexes: KvIndexSource | null = null;

  constructor(registry: Registry, prefix: string) {
    const registers = [registry];
    const name = (suffix: string): string => `${prefix}_${suffix}`;
    this.#matchRatio = new HistogramFamily({
      name: name('kvcache_aware_match_ratio'), registers, labelNames: ['model'], buckets: MATCH_RATIO_BUCKETS,
      help: "kvcache-aware: fraction of the prompt's blocks the best candidate pod holds, per scored request",
    });
    this.#tokenize = new HistogramFamily({
      name: name('kvcache_aware_tokenize_duration_seconds'), registers, labelNames: ['model', 'result'], buckets: PLUGIN_DURATION_BUCKETS,
      help: 'kvcache-aware: time to tokenize one prompt (result: ok or error)',
    });
    this.#received = new CounterFamily({ name: name('kv_events_received_total'), registers, labelNames: ['pod'], help: 'KV event batches received from a pod' });
    this.#lost = new CounterFamily({ name: name('kv_events_lost_total'), registers, labelNames: ['pod'], help: 'KV event batches a pod sent that were neither received nor replayed' });
    this.#replayed = new CounterFamily({ name: name('kv_events_replayed_total'), registers, labelNames: ['pod'], help: 'KV event batches recovered through a pod\'s replay socket' });
    const indexes = (): KvIndexSource | null => this.#indexes;
    new Gauge({
      name: name('kv_index_blocks'), registers, labelNames: ['pod', 'trusted'],
      help: 'KV blocks a pod holds according to its KV events',
      collect() {
        this.reset();
        for (const [origin, index, trusted] of indexes()?.entries() ?? []) this.labels(origin, trusted ? 'true' : 'false').set(index.size);
      },
    });
  }

  bindIndexes(source: KvIndexSource): void {
    this.#indexes = source;
  }

  match(model: string, ratio: number): void {
    let child = this.#ratioByModel.get(model);
    if (child === undefined && this.#ratioByModel.size < MAX_MODELS) this.#ratioByModel.set(model, (child = this.#matchRatio.labels(model)));
    child?.observe(ratio);
  }

  tokenized(model: string, seconds: number, ok: boolean): void {
    const key = `${ok ? 1 : 0}${model}`;
    let child = this.#tokenizeByModel.get(key);
    if (child === undefined && this.#tokenizeByModel.size < MAX_MODELS) this.#tokenizeByModel.set(key, (child = this.#tokenize.labels(model, ok ? 'ok' : 'error')));
    child?.observe(seconds);
  }

  received(origin: string, count: number): void {
    this.#pod(origin)[0].inc(count);
  }

  lost(origin: string, count: number): void {
    this.#pod(origin)[1].inc(count);
  }

  replayed(origin: string, count: number): void {
    this.#pod(origin)[2].inc(count);
  }

  #pod(origin: string): [CounterSeries, CounterSeries, CounterSeries] {
    let series = this.#byPod.get(origin);
    if (series === undefined) this.#byPod.set(origin, (series = [this.#received.labels(origin), this.#lost.labels(origin), this.#replayed.labels(origin)]));
    return series;
  }
}
