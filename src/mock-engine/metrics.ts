// Prometheus metrics of one mock engine, in its own prom-client Registry (several mocks share a process in tests).
// What each metric means lives in METRIC_SPECS; what each engine calls it lives in ENGINE_METRIC_NAMES, the one
// table to extend when the simulator grows new metrics or a new engine is imitated.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineKind } from './options.ts';

/** Instantaneous engine state, read at every scrape so gauges are never stale. */
export interface EngineLoad {
  running: number;
  waiting: number;
  /** 0..1 */
  kvCacheUsage: number;
  /** 0..1: prefix-cache hit tokens / queried tokens since start (SGLang's cache_hit_rate). */
  cacheHitRate: number;
}

/** What vLLM's lora_requests_info gauge reports (exposed only when the engine serves LoRA through the simulator). */
export interface LoraInfo {
  maxLoras: number;
  running: string[];
  waiting: string[];
}

export type FinishReason = 'stop' | 'length' | 'abort';
const FINISH_REASONS: readonly FinishReason[] = ['stop', 'length', 'abort'];

// Bucket bounds as in vLLM's loggers, so histogram-reading routers see familiar shapes.
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

type MetricSpec =
  | { kind: 'gauge'; help: string; loadField: keyof EngineLoad }
  | { kind: 'counter'; help: string; byFinishReason?: true }
  | { kind: 'histogram'; help: string; buckets: number[] };

const METRIC_SPECS = {
  requestsRunning: { kind: 'gauge', help: 'Number of requests in model execution batches.', loadField: 'running' },
  requestsWaiting: { kind: 'gauge', help: 'Number of requests waiting to be processed.', loadField: 'waiting' },
  kvCacheUsage: { kind: 'gauge', help: 'KV-cache usage. 1 means 100 percent usage.', loadField: 'kvCacheUsage' },
  cacheHitRate: { kind: 'gauge', help: 'The prefix cache hit rate.', loadField: 'cacheHitRate' },
  timeToFirstToken: { kind: 'histogram', help: 'Histogram of time to first token in seconds.', buckets: TTFT_BUCKETS },
  interTokenLatency: { kind: 'histogram', help: 'Histogram of inter-token latency in seconds.', buckets: ITL_BUCKETS },
  e2eRequestLatency: { kind: 'histogram', help: 'Histogram of end to end request latency in seconds.', buckets: E2E_BUCKETS },
  promptTokens: { kind: 'counter', help: 'Number of prefill tokens processed.' },
  generationTokens: { kind: 'counter', help: 'Number of generation tokens processed.' },
  requestSuccess: { kind: 'counter', help: 'Count of successfully processed requests.', byFinishReason: true },
  prefixCacheQueries: { kind: 'counter', help: 'Prefix cache queries, in terms of number of queried tokens.' },
  prefixCacheHits: { kind: 'counter', help: 'Prefix cache hits, in terms of number of cached tokens.' },
  preemptions: { kind: 'counter', help: 'Cumulative number of preemption from the engine.' },
  queueTime: { kind: 'histogram', help: 'Histogram of time spent in WAITING phase for request.', buckets: E2E_BUCKETS },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRIC_SPECS;

/**
 * Metric names per engine. The first name is the engine's current one; further names are aliases that the
 * engine also exposes and that some routers still read (Kthena reads vllm:gpu_cache_usage_perc and
 * *:time_per_output_token_seconds). A key missing for an engine is not exposed by it.
 */
export const ENGINE_METRIC_NAMES: Record<EngineKind, Partial<Record<MetricKey, readonly string[]>>> = {
  vllm: {
    requestsRunning: ['vllm:num_requests_running'],
    requestsWaiting: ['vllm:num_requests_waiting'],
    kvCacheUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
    timeToFirstToken: ['vllm:time_to_first_token_seconds'],
    interTokenLatency: ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds'],
    e2eRequestLatency: ['vllm:e2e_request_latency_seconds'],
    promptTokens: ['vllm:prompt_tokens_total'],
    generationTokens: ['vllm:generation_tokens_total'],
    requestSuccess: ['vllm:request_success_total'],
    prefixCacheQueries: ['vllm:prefix_cache_queries_total'],
    prefixCacheHits: ['vllm:prefix_cache_hits_total'],
    preemptions: ['vllm:num_preemptions_total'],
    queueTime: ['vllm:request_queue_time_seconds'],
  },
  sglang: {
    requestsRunning: ['sglang:num_running_reqs'],
    requestsWaiting: ['sglang:num_queue_reqs'],
    kvCacheUsage: ['sglang:token_usage'],
    timeToFirstToken: ['sglang:time_to_first_token_seconds'],
    interTokenLatency: ['sglang:inter_token_latency_seconds', 'sglang:time_per_output_token_seconds'],
    e2eRequestLatency: ['sglang:e2e_request_latency_seconds'],
    promptTokens: ['sglang:prompt_tokens_total'],
    generationTokens: ['sglang:generation_tokens_total'],
    cacheHitRate: ['sglang:cache_hit_rate'],
    queueTime: ['sglang:queue_time_seconds'],
  },
};

type LabelName = 'model_name' | 'finished_reason';
type LoraLabelName = 'max_lora' | 'running_lora_adapters' | 'waiting_lora_adapters';

export class EngineMetrics {
  readonly registry = new Registry();
  readonly #modelName: string;
  readonly #counters = new Map<MetricKey, Counter<LabelName>[]>();
  readonly #histograms = new Map<MetricKey, Histogram<LabelName>[]>();
  readonly #engine: EngineKind;

  /** `modelName` is the served model name, the `model_name` label of every series. */
  constructor(engine: EngineKind, modelName: string, readLoad: () => EngineLoad) {
    this.#modelName = modelName;
    this.#engine = engine;
    const labels = { model_name: modelName };
    for (const [key, names] of Object.entries(ENGINE_METRIC_NAMES[engine]) as [MetricKey, readonly string[]][]) {
      const spec: MetricSpec = METRIC_SPECS[key];
      for (const name of names) {
        const common = { name, help: spec.help, registers: [this.registry] };
        if (spec.kind === 'gauge') {
          const field = spec.loadField;
          new Gauge<LabelName>({
            ...common,
            labelNames: ['model_name'],
            collect(this: Gauge<LabelName>) {
              this.set(labels, readLoad()[field]);
            },
          });
        } else if (spec.kind === 'counter') {
          const counter = new Counter<LabelName>({ ...common, labelNames: spec.byFinishReason ? ['model_name', 'finished_reason'] : ['model_name'] });
          // Start every series at 0 so scrapers see the names before the first request.
          if (spec.byFinishReason) for (const reason of FINISH_REASONS) counter.inc({ ...labels, finished_reason: reason }, 0);
          else counter.inc(labels, 0);
          this.#counters.set(key, [...(this.#counters.get(key) ?? []), counter]);
        } else {
          const histogram = new Histogram<LabelName>({ ...common, labelNames: ['model_name'], buckets: spec.buckets });
          histogram.zero(labels);
          this.#histograms.set(key, [...(this.#histograms.get(key) ?? []), histogram]);
        }
      }
    }
  }

  observeTimeToFirstToken(seconds: number): void {
    this.#observe('timeToFirstToken', seconds);
  }

  observeInterTokenLatency(seconds: number): void {
    this.#observe('interTokenLatency', seconds);
  }

  observeRequestLatency(seconds: number): void {
    this.#observe('e2eRequestLatency', seconds);
  }

  countPromptTokens(tokens: number): void {
    for (const counter of this.#counters.get('promptTokens') ?? []) counter.inc({ model_name: this.#modelName }, tokens);
  }

  countGeneratedTokens(tokens: number): void {
    for (const counter of this.#counters.get('generationTokens') ?? []) counter.inc({ model_name: this.#modelName }, tokens);
  }

  countFinishedRequest(reason: FinishReason): void {
    for (const counter of this.#counters.get('requestSuccess') ?? []) counter.inc({ model_name: this.#modelName, finished_reason: reason });
  }

  /** A prompt was looked up in the prefix cache: `queried` tokens, `hit` of them found. */
  countPrefixCacheQuery(queried: number, hit: number): void {
    this.#inc('prefixCacheQueries', queried);
    this.#inc('prefixCacheHits', hit);
  }

  countPreemptions(count: number): void {
    this.#inc('preemptions', count);
  }

  observeQueueTime(seconds: number): void {
    this.#observe('queueTime', seconds);
  }

  /**
   * vLLM's `vllm:lora_requests_info`: one series whose labels name the adapters of running and waiting requests
   * and the slot count, valued with the current Unix time. SGLang has no such gauge.
   */
  exposeLoraInfo(read: () => LoraInfo): void {
    if (this.#engine !== 'vllm') return;
    new Gauge<LoraLabelName>({
      name: 'vllm:lora_requests_info',
      help: 'Running stats on lora requests.',
      labelNames: ['max_lora', 'running_lora_adapters', 'waiting_lora_adapters'],
      registers: [this.registry],
      collect(this: Gauge<LoraLabelName>) {
        const info = read();
        this.reset();
        const labels = { max_lora: String(info.maxLoras), running_lora_adapters: info.running.join(','), waiting_lora_adapters: info.waiting.join(',') };
        this.set(labels, Date.now() / 1000);
      },
    });
  }

  /** Prometheus text exposition and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  #inc(key: MetricKey, amount: number): void {
    for (const counter of this.#counters.get(key) ?? []) counter.inc({ model_name: this.#modelName }, amount);
  }

  #observe(key: MetricKey, seconds: number): void {
    for (const histogram of this.#histograms.get(key) ?? []) histogram.observe({ model_name: this.#modelName }, seconds);
  }
}
