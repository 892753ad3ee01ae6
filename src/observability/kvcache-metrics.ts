// kvcache-aware's metrics: Kthena's match ratio, tokenize and Redis lookup durations and errors (same names under
// the prefix), and
// Switchyard's KV event series: events received / lost / replayed per pod and each pod's index size.
import { Gauge, type Registry } from 'prom-client';
import type { PodBlockIndex } from '../engines/kv-events/block-index.ts';
import type { KvEventCounters } from '../engines/kv-events/subscription.ts';
import { CounterFamily, HistogramFamily, type CounterSeries, type HistogramSeries } from './metric-series.ts';
import { MATCH_RATIO_BUCKETS, PLUGIN_DURATION_BUCKETS } from './metric-definitions.ts';

/** Kthena's buckets of kvcache_aware_redis_duration_seconds. */
const REDIS_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const MAX_MODELS = 1000;

export interface KvIndexSource {
  /** origin, index, trusted now. */
  entries(): Iterable<[string, PodBlockIndex, boolean]>;
}

export class KvCacheMetrics implements KvEventCounters {
  readonly #matchRatio: HistogramFamily;
  readonly #tokenize: HistogramFamily;
  readonly #redis: HistogramFamily;
  readonly #errors: CounterFamily;
  readonly #redisByModel = new Map<string, HistogramSeries>();
  readonly #errorsByModel = new Map<string, CounterSeries>();
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
    this.#redis = new HistogramFamily({
      name: name('kvcache_aware_redis_duration_seconds'), registers, labelNames: ['model'], buckets: REDIS_DURATION_BUCKETS,
      help: "kvcache-aware: time of one lookup in Kthena's Redis index (one pipelined round trip)",
    });
    this.#errors = new CounterFamily({
      name: name('kvcache_aware_errors_total'), registers, labelNames: ['model', 'stage'],
      help: 'kvcache-aware: requests left without an opinion by a failure, by stage (tokenize or redis)',
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

  redisLookup(model: string, seconds: number): void {
    let child = this.#redisByModel.get(model);
    if (child === undefined && this.#redisByModel.size < MAX_MODELS) this.#redisByModel.set(model, (child = this.#redis.labels(model)));
    child?.observe(seconds);
  }

  error(model: string, stage: 'tokenize' | 'redis'): void {
    const key = `${stage}\0${model}`;
    let child = this.#errorsByModel.get(key);
    if (child === undefined && this.#errorsByModel.size < MAX_MODELS) this.#errorsByModel.set(key, (child = this.#errors.labels(model, stage)));
    child?.inc(1);
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
