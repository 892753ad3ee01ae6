// Live, scraped state of every pod's engine: load gauges, recent latencies, loaded models. Kept outside the routing
// snapshot and keyed by origin ("http://ip:port"), like PodStateTable. Data that could not be refreshed is stale,
// and stale data is reported as unknown (null / NaN), never as zeros.
import type { EngineReading, HistogramTotals } from './metric-names.ts';

/** What schedulers read about one pod's engine. NaN: not reported by the engine. */
export interface EngineStats {
  readonly waiting: number;
  readonly running: number;
  /** 0..1 */
  readonly kvCacheUsage: number;
  /** Mean time to first token over the last scrape interval with requests, in seconds. */
  readonly ttftSeconds: number;
  /** Mean time per output token (inter-token latency) over the last scrape interval with tokens, in seconds. */
  readonly tpotSeconds: number;
  /** LoRA adapters of the requests it runs or queues (vLLM's lora_requests_info); null when not reported. */
  readonly loraAdapters?: ReadonlySet<string> | null;
  /** Adapters the engine keeps loaded at once (vLLM's max_lora); NaN when not reported. */
  readonly loraSlots?: number;
}

/** Read side of the table, as scheduling plugins see it. */
export interface EngineStatsSource {
  /** Fresh metrics of the pod, or null when unknown: never scraped, the last scrape failed, or too old. */
  metrics(origin: string, now: number): EngineStats | null;
  /** Model ids the pod serves (base model and loaded LoRA adapters), or null when unknown. */
  models(origin: string, now: number): ReadonlySet<string> | null;
}

export class PodEngineState implements EngineStats {
  readonly origin: string;
  waiting = NaN;
  running = NaN;
  kvCacheUsage = NaN;
  ttftSeconds = NaN;
  tpotSeconds = NaN;
  loraAdapters: ReadonlySet<string> | null = null;
  loraSlots = NaN;
  /** Time (ms) of the last good /metrics scrape; 0 = never. */
  metricsAt = 0;
  /** Set when the last /metrics scrape failed. */
  metricsError: string | null = null;
  models: ReadonlySet<string> | null = null;
  modelsAt = 0;
  modelsError: string | null = null;
  private ttftTotals: HistogramTotals | null = null;
  private tpotTotals: HistogramTotals | null = null;

  constructor(origin: string) {
    this.origin = origin;
  }

  applyMetrics(reading: EngineReading, now: number): void {
    this.waiting = reading.waiting;
    this.running = reading.running;
    this.kvCacheUsage = reading.kvCacheUsage;
    this.ttftSeconds = nextLatency(this.ttftSeconds, this.ttftTotals, reading.ttft);
    this.tpotSeconds = nextLatency(this.tpotSeconds, this.tpotTotals, reading.tpot);
    this.ttftTotals = reading.ttft;
    this.tpotTotals = reading.tpot;
    this.loraAdapters = reading.loraAdapters == null ? null : new Set(reading.loraAdapters);
    this.loraSlots = reading.loraSlots ?? NaN;
    this.metricsAt = now;
    this.metricsError = null;
  }

  metricsFailed(error: string): void {
    this.metricsError = error;
  }

  applyModels(models: ReadonlySet<string>, now: number): void {
    this.models = models;
    this.modelsAt = now;
    this.modelsError = null;
  }

  modelsFailed(error: string): void {
    this.modelsError = error;
  }
}

/**
 * Mean of the observations made between two readings of a histogram's `_sum` and `_count`:
 * NaN when nothing new was observed. The first reading, and a reading after the engine restarted (count or sum
 * went down), yield the cumulative mean.
 */
export function intervalMean(previous: HistogramTotals | null, current: HistogramTotals | null): number {
  if (current === null) return NaN;
  if (previous === null || current.count < previous.count || current.sum < previous.sum) {
    return current.count > 0 ? current.sum / current.count : NaN;
  }
  const count = current.count - previous.count;
  return count > 0 ? (current.sum - previous.sum) / count : NaN;
}

/** A latency keeps its last known value through intervals without requests; it becomes unknown with the metric. */
function nextLatency(last: number, previous: HistogramTotals | null, current: HistogramTotals | null): number {
  if (current === null) return NaN;
  const mean = intervalMean(previous, current);
  return Number.isNaN(mean) ? last : mean;
}

export interface EngineStateOptions {
  /** Data older than this is stale even if no scrape failed (the scraper stalled or was stopped). */
  readonly staleAfterMs: number;
}

export class EngineStateTable implements EngineStatsSource {
  private readonly states = new Map<string, PodEngineState>();
  private readonly staleAfterMs: number;

  constructor(options: EngineStateOptions) {
    this.staleAfterMs = options.staleAfterMs;
  }

  get(origin: string): PodEngineState {
    let state = this.states.get(origin);
    if (state === undefined) {
      state = new PodEngineState(origin);
      this.states.set(origin, state);
    }
    return state;
  }

  peek(origin: string): PodEngineState | undefined {
    return this.states.get(origin);
  }

  metrics(origin: string, now: number): EngineStats | null {
    const state = this.states.get(origin);
    if (state === undefined || state.metricsAt === 0 || state.metricsError !== null) return null;
    return now - state.metricsAt > this.staleAfterMs ? null : state;
  }

  models(origin: string, now: number): ReadonlySet<string> | null {
    const state = this.states.get(origin);
    if (state === undefined || state.modelsAt === 0 || state.modelsError !== null) return null;
    return now - state.modelsAt > this.staleAfterMs ? null : state.models;
  }

  /** Forget pods that left the configuration. */
  retain(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const origin of this.states.keys()) if (!origins.has(origin)) this.states.delete(origin);
  }

  get size(): number {
    return this.states.size;
  }
}
