// Per-pod series, read at scrape time from the scraped engine state and the router's own view of each pod of each
// ModelServer (labels namespace, pod, model_server). Unknown or stale engine data gives no series rather than a 0.
import { Gauge, type Registry } from 'prom-client';
import type { EngineStatsSource } from '../engines/engine-state.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import type { RoutingSnapshot } from '../snapshot/types.ts';
import { POD_LABELS } from './metric-definitions.ts';

export interface PodMetricsSources {
  snapshot(): RoutingSnapshot | null;
  readonly engines: EngineStatsSource;
  readonly podStates: PodStateTable;
}

type Reading = (stats: PodReading) => number;

interface PodReading {
  waiting: number;
  running: number;
  kvCacheUsage: number;
  ttftSeconds: number;
  tpotSeconds: number;
  inFlight: number;
  healthy: number;
}

const SERIES: readonly [suffix: string, help: string, read: Reading][] = [
  ['pod_requests_waiting', 'Requests waiting in the engine queue (vllm:num_requests_waiting / sglang:num_queue_reqs), as last scraped', (s) => s.waiting],
  ['pod_requests_running', 'Requests running in the engine (vllm:num_requests_running / sglang:num_running_reqs), as last scraped', (s) => s.running],
  ['pod_kv_cache_usage_ratio', 'KV-cache usage of the engine, 0-1 (vllm:kv_cache_usage_perc / sglang:token_usage), as last scraped', (s) => s.kvCacheUsage],
  ['pod_ttft_seconds', 'Mean time to first token over the last scrape interval with requests', (s) => s.ttftSeconds],
  ['pod_tpot_seconds', 'Mean time per output token over the last scrape interval with tokens', (s) => s.tpotSeconds],
  ['pod_in_flight_requests', 'Requests in flight to the pod through this router', (s) => s.inFlight],
  ['pod_healthy', '1 while the pod passes active and passive health checks, else 0', (s) => s.healthy],
];

export function definePodMetrics(registry: Registry, prefix: string, sources: PodMetricsSources): void {
  for (const [suffix, help, read] of SERIES) {
    new Gauge({
      name: `${prefix}_${suffix}`,
      help,
      labelNames: POD_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, reading } of readPods(sources)) {
          const value = read(reading);
          if (!Number.isNaN(value)) this.set(labels, value);
        }
      },
    });
  }
}

function* readPods(sources: PodMetricsSources): Generator<{ labels: Record<(typeof POD_LABELS)[number], string>; reading: PodReading }> {
  const snapshot = sources.snapshot();
  if (snapshot === null) return;
  const now = Date.now();
  for (const server of snapshot.servers.values()) {
    for (const pod of server.pods) {
      const stats = sources.engines.metrics(pod.origin, now);
      const state = sources.podStates.peek(pod.origin);
      yield {
        labels: { namespace: pod.namespace, pod: pod.name, model_server: server.key },
        reading: {
          waiting: stats?.waiting ?? NaN,
          running: stats?.running ?? NaN,
          kvCacheUsage: stats?.kvCacheUsage ?? NaN,
          ttftSeconds: stats?.ttftSeconds ?? NaN,
          tpotSeconds: stats?.tpotSeconds ?? NaN,
          inFlight: state?.inFlight ?? 0,
          healthy: state === undefined || state.isHealthy(now) ? 1 : 0,
        },
      };
    }
  }
}
