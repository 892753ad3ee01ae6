// Every metric the router exposes: Kthena's names, label names, buckets and help texts under a configurable prefix
// (default "switchyard"; "kthena_router" gives Kthena's exact names), plus Switchyard's retry and per-pod series.
// Series updated per request are metric-series.ts families (cheap updates); the scrape-time gauges are prom-client's.
import { Gauge, type Registry } from 'prom-client';
import { CounterFamily, GaugeFamily, HistogramFamily } from './metric-series.ts';

export const DEFAULT_METRICS_PREFIX = 'switchyard';
export const METRIC_PREFIX_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
export const PLUGIN_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5];
export const MATCH_RATIO_BUCKETS = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];

/** Labels naming where a request went; "none" / "unresolved" when it went nowhere. */
const DESTINATION = ['model_route', 'backend_type', 'backend_name', 'upstream_model'] as const;
export const POD_LABELS = ['namespace', 'pod', 'model_server'] as const;

/** Suffixes of the Kthena metrics (the exported names are `${prefix}_${suffix}`). */
export const KTHENA_METRIC_SUFFIXES = [
  'requests_total',
  'request_duration_seconds',
  'request_prefill_duration_seconds',
  'request_decode_duration_seconds',
  'tokens_total',
  'scheduler_plugin_duration_seconds',
  'rate_limit_exceeded_total',
  'active_requests',
  'active_downstream_requests',
  'active_upstream_requests',
  'prefix_cache_match_ratio',
  'prefix_cache_evictions_total',
  'prefix_cache_entries',
] as const;

export interface ScrapeSources {
  /** Requests in the /v1/* pipeline now (Kthena's active_requests). */
  activeRequests(): number;
  /** (block, pod) entries of every prefix-cache plugin instance. */
  prefixCacheEntries(): number;
}

export function defineRouterMetrics(registry: Registry, prefix: string, sources: ScrapeSources) {
  const registers = [registry];
  const name = (suffix: string): string => `${prefix}_${suffix}`;
  return {
    requests: new CounterFamily({
      name: name('requests_total'), help: 'Total number of HTTP requests processed by the router', registers,
      labelNames: ['model', 'path', 'status_code', 'error_type', ...DESTINATION],
    }),
    duration: new HistogramFamily({
      name: name('request_duration_seconds'), help: 'End-to-end request processing latency distribution for all requests', registers,
      labelNames: ['model', 'path', 'status_code', ...DESTINATION], buckets: DURATION_BUCKETS,
    }),
    prefill: new HistogramFamily({
      name: name('request_prefill_duration_seconds'), help: 'Prefill phase processing latency distribution for PD-disaggregated requests', registers,
      labelNames: ['model', 'path', 'status_code'], buckets: DURATION_BUCKETS,
    }),
    decode: new HistogramFamily({
      name: name('request_decode_duration_seconds'), help: 'Decode phase processing latency distribution for PD-disaggregated requests', registers,
      labelNames: ['model', 'path', 'status_code'], buckets: DURATION_BUCKETS,
    }),
    tokens: new CounterFamily({
      name: name('tokens_total'), help: 'Total tokens processed/generated', registers,
      labelNames: ['model', 'path', 'token_type', ...DESTINATION],
    }),
    pluginDuration: new HistogramFamily({
      name: name('scheduler_plugin_duration_seconds'), help: 'Processing time per scheduler plugin', registers,
      labelNames: ['model', 'plugin', 'type'], buckets: PLUGIN_DURATION_BUCKETS,
    }),
    rateLimitExceeded: new CounterFamily({
      name: name('rate_limit_exceeded_total'), help: 'Number of requests rejected due to rate limiting', registers,
      labelNames: ['model', 'limit_type', 'path'],
    }),
    activeRequests: new Gauge({
      name: name('active_requests'), help: 'Current number of active requests being handled by the router', registers,
      collect() {
        this.set(sources.activeRequests());
      },
    }),
    activeDownstream: new GaugeFamily({
      name: name('active_downstream_requests'), help: 'Current number of active downstream requests (from clients to router)', registers,
      labelNames: ['model'],
    }),
    activeUpstream: new GaugeFamily({
      name: name('active_upstream_requests'), help: 'Current number of active upstream requests (from router to upstream backends)', registers,
      labelNames: ['model_server', ...DESTINATION],
    }),
    prefixMatchRatio: new HistogramFamily({
      name: name('prefix_cache_match_ratio'), registers, labelNames: ['model'], buckets: MATCH_RATIO_BUCKETS,
      help: "Fraction of the prompt's blocks the best-matching candidate pod had already cached, per prefix-cache match attempt (0 = miss)",
    }),
    prefixEvictions: new CounterFamily({
      name: name('prefix_cache_evictions_total'), registers, labelNames: ['model'],
      help: 'Number of (prefix block, pod) entries evicted from a per-pod cache when it reached capacity; excludes entries removed when a pod is deleted',
    }),
    prefixEntries: new Gauge({
      name: name('prefix_cache_entries'), registers,
      help: 'Total prefix-cache occupancy: number of (prefix block, pod) entries currently stored across all pods',
      collect() {
        this.set(sources.prefixCacheEntries());
      },
    }),
    // Switchyard's own.
    retries: new CounterFamily({
      name: name('upstream_retries_total'), registers, labelNames: ['model', 'model_server'],
      help: 'Upstream attempts beyond the first (retries on other pods after connection errors, timeouts, 502, 503, 504)',
    }),
    rateLimitStoreErrors: new CounterFamily({
      name: name('rate_limit_store_errors_total'), registers, labelNames: ['failure_mode'],
      help: 'Rate-limit checks the shared store (Redis) could not answer; failure_mode open let the request through, closed refused it',
    }),
  };
}

export type RouterMetricSet = ReturnType<typeof defineRouterMetrics>;

/** Kthena's fairness and session-boost queue buckets (0.001-5 s). */
export const QUEUE_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Kthena's fairness-queue and session-boost-queue metrics (same names under our prefix, same labels, buckets and help
 * texts). The fairness families keep Kthena's user_id label, always "_all". priority_refresh_total and
 * heap_rebuild_total stay at zero: Switchyard computes priorities when it picks the next request, so there is
 * nothing to refresh or rebuild.
 */
export function defineQueueMetrics(registry: Registry, prefix: string) {
  const registers = [registry];
  const name = (suffix: string): string => `${prefix}_${suffix}`;
  const byUser = ['model', 'user_id'];
  return {
    fairnessSize: new GaugeFamily({ name: name('fairness_queue_size'), help: 'Current fairness queue size for pending requests, aggregated across users', registers, labelNames: byUser }),
    fairnessDuration: new HistogramFamily({
      name: name('fairness_queue_duration_seconds'), help: 'Time requests spend in fairness queue before processing, aggregated across users', registers,
      labelNames: byUser, buckets: QUEUE_DURATION_BUCKETS,
    }),
    fairnessCancelled: new CounterFamily({
      name: name('fairness_queue_cancelled_total'), help: 'Total number of requests cancelled or timed out while in fairness queue, aggregated across users', registers, labelNames: byUser,
    }),
    fairnessDequeued: new CounterFamily({
      name: name('fairness_queue_dequeue_total'), help: 'Total number of requests successfully dequeued from fairness queue, aggregated across users', registers, labelNames: byUser,
    }),
    fairnessInflight: new GaugeFamily({ name: name('fairness_queue_inflight'), help: 'Current number of in-flight requests gated by fairness queue semaphore', registers, labelNames: ['model'] }),
    fairnessPriorityRefresh: new CounterFamily({
      name: name('fairness_queue_priority_refresh_total'), help: 'Total number of dequeue-time priority refresh-and-reinsert operations', registers, labelNames: ['model'],
    }),
    fairnessHeapRebuild: new CounterFamily({
      name: name('fairness_queue_heap_rebuild_total'), help: 'Total number of full heap rebuild operations due to priority drift', registers, labelNames: ['model'],
    }),
    sessionBoostSize: new GaugeFamily({ name: name('session_boost_queue_size'), help: 'Current session boost queue size for pending requests', registers, labelNames: ['model'] }),
    sessionBoostDuration: new HistogramFamily({
      name: name('session_boost_queue_duration_seconds'), help: 'Time requests spend in session boost queue before processing', registers,
      labelNames: ['model'], buckets: QUEUE_DURATION_BUCKETS,
    }),
    sessionBoostCancelled: new CounterFamily({
      name: name('session_boost_queue_cancelled_total'), help: 'Total number of requests cancelled or timed out while in session boost queue', registers, labelNames: ['model'],
    }),
    sessionBoostDequeued: new CounterFamily({
      name: name('session_boost_queue_dequeue_total'), help: 'Total number of requests successfully dequeued from session boost queue', registers, labelNames: ['model'],
    }),
    sessionBoostInflight: new GaugeFamily({ name: name('session_boost_queue_inflight'), help: 'Current number of in-flight requests gated by session boost queue', registers, labelNames: ['model'] }),
  };
}

export type QueueMetricSet = ReturnType<typeof defineQueueMetrics>;
