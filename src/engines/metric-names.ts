// Which engine metrics the router reads, under which names, and how several series of one metric are combined.
// The first name found wins, so an engine exposing both a current and an older name is read by the current one.
import type { MetricFamily } from './prometheus-text.ts';

export type GaugeKey = 'waiting' | 'running' | 'kvCacheUsage';
export type HistogramKey = 'ttft' | 'tpot';

/** Per engine, in order of preference: current names first, older ones (still served by some versions) after. */
export const ENGINE_METRIC_NAMES = {
  vllm: {
    waiting: ['vllm:num_requests_waiting'],
    running: ['vllm:num_requests_running'],
    kvCacheUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
    ttft: ['vllm:time_to_first_token_seconds'],
    tpot: ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds'],
  },
  sglang: {
    waiting: ['sglang:num_queue_reqs'],
    running: ['sglang:num_running_reqs'],
    kvCacheUsage: ['sglang:token_usage'],
    ttft: ['sglang:time_to_first_token_seconds'],
    tpot: ['sglang:inter_token_latency_seconds', 'sglang:time_per_output_token_seconds'],
  },
} as const satisfies Record<string, Record<GaugeKey | HistogramKey, readonly string[]>>;

/** Every name of a key across engines; a pod runs one engine, so whichever is present is its own. */
const LOOKUP: Record<GaugeKey | HistogramKey, readonly string[]> = {
  waiting: [...ENGINE_METRIC_NAMES.vllm.waiting, ...ENGINE_METRIC_NAMES.sglang.waiting],
  running: [...ENGINE_METRIC_NAMES.vllm.running, ...ENGINE_METRIC_NAMES.sglang.running],
  kvCacheUsage: [...ENGINE_METRIC_NAMES.vllm.kvCacheUsage, ...ENGINE_METRIC_NAMES.sglang.kvCacheUsage],
  ttft: [...ENGINE_METRIC_NAMES.vllm.ttft, ...ENGINE_METRIC_NAMES.sglang.ttft],
  tpot: [...ENGINE_METRIC_NAMES.vllm.tpot, ...ENGINE_METRIC_NAMES.sglang.tpot],
};

const LORA_INFO = 'vllm:lora_requests_info';

/**
 * The lines readEngineMetrics reads: the gauges, the histograms' family names with their _sum and _count (not their
 * buckets), vLLM's LoRA info. The scraper parses only these.
 */
export const READ_SERIES: ReadonlySet<string> = new Set([
  ...LOOKUP.waiting, ...LOOKUP.running, ...LOOKUP.kvCacheUsage,
  ...[...LOOKUP.ttft, ...LOOKUP.tpot].flatMap((name) => [name, `${name}_sum`, `${name}_count`]),
  LORA_INFO,
]);

export interface HistogramTotals {
  readonly sum: number;
  readonly count: number;
}

/** One scrape's values. NaN or null: the engine did not report the metric (unknown, not zero). */
export interface EngineReading {
  readonly waiting: number;
  readonly running: number;
  /** 0..1 */
  readonly kvCacheUsage: number;
  readonly ttft: HistogramTotals | null;
  readonly tpot: HistogramTotals | null;
  /** Adapters of the requests running or waiting now (vLLM's lora_requests_info); null when not reported. */
  readonly loraAdapters?: readonly string[] | null;
  /** Adapters the engine keeps loaded at once (vLLM's --max-loras, lora_requests_info's max_lora); NaN when not reported. */
  readonly loraSlots?: number;
}

/**
 * Reads the router's metrics out of a parsed exposition. Several series of one metric (one per model or adapter
 * label set) are combined instead of letting the last one win: request counts are summed, cache usage takes the
 * highest, histograms add their sums and counts.
 */
export function readEngineMetrics(families: ReadonlyMap<string, MetricFamily>): EngineReading {
  return {
    waiting: gauge(families, LOOKUP.waiting, 'sum'),
    running: gauge(families, LOOKUP.running, 'sum'),
    kvCacheUsage: gauge(families, LOOKUP.kvCacheUsage, 'max'),
    ttft: histogram(families, LOOKUP.ttft),
    tpot: histogram(families, LOOKUP.tpot),
    loraAdapters: loraAdapters(families),
    loraSlots: loraSlots(families),
  };
}

/**
 * vLLM's lora_requests_info: a gauge whose labels list the adapters of running and waiting requests and whose value
 * is the time they were set; old label sets stay exported, so the newest series is the current one.
 */
function loraAdapters(families: ReadonlyMap<string, MetricFamily>): readonly string[] | null {
  const newest = newestLoraInfo(families);
  if (newest === null) return null;
  const names = `${newest.labels.running_lora_adapters ?? ''},${newest.labels.waiting_lora_adapters ?? ''}`.split(',');
  return names.filter((name) => name !== '');
}

/** max_lora of the newest lora_requests_info series: a positive whole number, else NaN. */
function loraSlots(families: ReadonlyMap<string, MetricFamily>): number {
  const slots = Number(newestLoraInfo(families)?.labels.max_lora ?? NaN);
  return Number.isInteger(slots) && slots > 0 ? slots : NaN;
}

function newestLoraInfo(families: ReadonlyMap<string, MetricFamily>): MetricFamily['samples'][number] | null {
  const family = families.get(LORA_INFO);
  if (family === undefined) return null;
  let newest: MetricFamily['samples'][number] | null = null;
  for (const sample of family.samples) if (sample.name === LORA_INFO && (newest === null || sample.value > newest.value)) newest = sample;
  return newest;
}

function gauge(families: ReadonlyMap<string, MetricFamily>, names: readonly string[], combine: 'sum' | 'max'): number {
  for (const name of names) {
    const family = families.get(name);
    if (family === undefined) continue;
    let result = NaN;
    for (const sample of family.samples) {
      if (sample.name !== name || Number.isNaN(sample.value)) continue;
      if (Number.isNaN(result)) result = sample.value;
      else result = combine === 'sum' ? result + sample.value : Math.max(result, sample.value);
    }
    if (!Number.isNaN(result)) return result;
  }
  return NaN;
}

function histogram(families: ReadonlyMap<string, MetricFamily>, names: readonly string[]): HistogramTotals | null {
  for (const name of names) {
    const sumName = `${name}_sum`;
    const countName = `${name}_count`;
    // Typed histograms group _sum/_count under the family; untyped expositions give each its own family.
    const samples = families.get(name)?.samples ?? [...(families.get(sumName)?.samples ?? []), ...(families.get(countName)?.samples ?? [])];
    let sum = 0;
    let count = 0;
    let seenSum = false;
    let seenCount = false;
    for (const sample of samples) {
      if (sample.name === sumName) {
        sum += sample.value;
        seenSum = true;
      } else if (sample.name === countName) {
        count += sample.value;
        seenCount = true;
      }
    }
    if (seenSum && seenCount && Number.isFinite(sum) && Number.isFinite(count)) return { sum, count };
  }
  return null;
}
