// Prometheus metrics of the router (prom-client, one Registry per router). Requests are counted once, from their
// RequestRecord; gauges move when a request is dispatched upstream and when it ends. Child series are cached per
// label tuple, so a request costs a few Map lookups and prom-client's own update, never a label object.
//
// Label values as in Kthena: `model` is the request's model when some ModelRoute knows it, else "unknown";
// `path` is the request path when it is an OpenAI API path, else "unknown" (bounded cardinality); model_route and
// backend_name are "namespace/name", backend_type "model_server" or "external_provider"; a request that never reached a backend has
// model_route="none", backend_type="unresolved", backend_name="none", upstream_model="none".
import { KvCacheMetrics } from './kvcache-metrics.ts';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { SchedulerObserver } from '../scheduling/framework/observer.ts';
import { finishReasonOf, statusOf } from './error-types.ts';
import { defineQueueMetrics, defineRouterMetrics, type QueueMetricSet, type RouterMetricSet, type ScrapeSources } from './metric-definitions.ts';
import type { CounterSeries, GaugeSeries, HistogramSeries } from './metric-series.ts';
import { definePodMetrics, type PodMetricsSources } from './pod-metrics.ts';
import { pathOnly, type RequestRecord } from './request-record.ts';
import type { RequestTokens } from './token-estimate.ts';
import { STORED_RESPONSES_PREFIX, storedResponseTarget } from '../routing/stored-response-path.ts';

export const UNKNOWN = 'unknown';
const NONE = 'none';
const UNRESOLVED = 'unresolved';
const MODEL_SERVER = 'model_server';
const EXTERNAL_PROVIDER = 'external_provider';
/** Beyond this many cached children per map (only after many reloads), the cache starts over. */
const MAX_CACHED = 10_000;

/** Paths kept as `path` label values (every inference path the router forwards by default); any other is "unknown". */
const API_PATHS: ReadonlySet<string> = new Set([
  '/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/messages', '/v1/messages/count_tokens', '/v1/models',
  '/v1/rerank', '/v1/score', '/v1/classify', '/v1/pooling', '/v1/moderations', '/v1/tokenize', '/v1/detokenize',
  '/v1/audio/transcriptions', '/v1/audio/translations', '/v1/audio/speech', '/v1/images/generations',
]);

export function pathLabel(path: string): string {
  const p = pathOnly(path);
  if (API_PATHS.has(p)) return p;
  if (p.startsWith(STORED_RESPONSES_PREFIX)) {
    const target = storedResponseTarget(p);
    if (target !== null) return STORED_RESPONSE_LABELS[target.action];
  }
  return UNKNOWN;
}

/** Stored-response paths by their template: one label value each, whatever the id. */
const STORED_RESPONSE_LABELS = {
  retrieve: '/v1/responses/{response_id}',
  cancel: '/v1/responses/{response_id}/cancel',
  input_items: '/v1/responses/{response_id}/input_items',
} as const;

export interface RouterMetricsOptions extends ScrapeSources {
  readonly prefix: string;
  /** Whether some ModelRoute has this model as modelName or LoRA adapter (Kthena's store.HasModel). */
  knownModel(model: string): boolean;
  readonly pods: PodMetricsSources;
  /** Node.js process metrics (process_*, nodejs_*), unprefixed; default true. */
  readonly processMetrics?: boolean;
}

interface StatusSeries {
  readonly duration: HistogramSeries;
  /** error_type → requests_total child. */
  readonly requests: Map<string, CounterSeries>;
  readonly label: string;
}

/** The series of one (model, path, route, backend, upstream model) tuple. */
class Destination {
  readonly labels: readonly [model: string, path: string, route: string, backendType: string, backendName: string, upstreamModel: string];
  private readonly m: RouterMetricSet;
  private readonly byStatus = new Map<number, StatusSeries>();
  private inputTokens: CounterSeries | null = null;
  private outputTokens: CounterSeries | null = null;
  private upstream: GaugeSeries | null = null;
  /** The last status's series: requests of one destination nearly always end with the same status. */
  private lastStatus = -1;
  private lastSeries: StatusSeries | null = null;

  constructor(m: RouterMetricSet, labels: Destination['labels']) {
    this.m = m;
    this.labels = labels;
  }

  status(status: number): StatusSeries {
    if (status === this.lastStatus) return this.lastSeries!;
    let series = this.byStatus.get(status);
    if (series === undefined) {
      const [model, path, route, type, name, upstream] = this.labels;
      const label = String(status);
      series = { label, duration: this.m.duration.labels(model, path, label, route, type, name, upstream), requests: new Map() };
      this.byStatus.set(status, series);
    }
    this.lastStatus = status;
    this.lastSeries = series;
    return series;
  }

  requests(series: StatusSeries, errorType: string): CounterSeries {
    let child = series.requests.get(errorType);
    if (child === undefined) {
      const [model, path, route, type, name, upstream] = this.labels;
      child = this.m.requests.labels(model, path, series.label, errorType, route, type, name, upstream);
      series.requests.set(errorType, child);
    }
    return child;
  }

  tokens(kind: 'input' | 'output'): CounterSeries {
    const cached = kind === 'input' ? this.inputTokens : this.outputTokens;
    if (cached !== null) return cached;
    const [model, path, route, type, name, upstream] = this.labels;
    const child = this.m.tokens.labels(model, path, kind, route, type, name, upstream);
    if (kind === 'input') this.inputTokens = child;
    else this.outputTokens = child;
    return child;
  }

  activeUpstream(): GaugeSeries {
    if (this.upstream === null) {
      const [, , route, type, name, upstream] = this.labels;
      this.upstream = this.m.activeUpstream.labels(type === MODEL_SERVER ? name : NONE, route, type, name, upstream);
    }
    return this.upstream;
  }
}

export class RouterMetrics implements SchedulerObserver {
  readonly registry = new Registry();
  /** Kthena's fairness and session-boost queue metrics, for the fair queue. */
  readonly queue: QueueMetricSet;
  private readonly m: RouterMetricSet;
  private readonly knownModel: (model: string) => boolean;
  /** model → path → route → server → upstream model → destination (nested: no key string built per request). */
  private destinations: Nested<Destination> = new Map();
  private destinationCount = 0;
  private readonly downstream = new Map<string, GaugeSeries>();
  private readonly retries = new Map<string, CounterSeries>();
  /** type → plugin → model → child. */
  private readonly plugins = { filter: new Map<string, Map<string, HistogramSeries>>(), score: new Map<string, Map<string, HistogramSeries>>() };
  private readonly prefixRatio = new Map<string, HistogramSeries>();
  private readonly prefixEvictions = new Map<string, CounterSeries>();
  /** kvcache-aware and KV event series. */
  readonly kvCache: KvCacheMetrics;

  constructor(options: RouterMetricsOptions) {
    this.knownModel = (model) => options.knownModel(model);
    this.m = defineRouterMetrics(this.registry, options.prefix, options);
    definePodMetrics(this.registry, options.prefix, options.pods);
    this.kvCache = new KvCacheMetrics(this.registry, options.prefix);
    this.queue = defineQueueMetrics(this.registry, options.prefix);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The request was routed and scheduled; its upstream exchange starts now. */
  requestDispatched(record: RequestRecord): void {
    const model = this.modelLabel(record);
    const destination = this.destination(record, model, true);
    // Counted in the active gauges: taken out exactly once, by requestDone.
    record.dispatchedTo = destination;
    destination.activeUpstream().inc();
    this.downstreamOf(model).inc();
  }

  requestDone(record: RequestRecord, tokens: RequestTokens): void {
    let destination = record.dispatchedTo instanceof Destination ? record.dispatchedTo : undefined;
    if (destination !== undefined) {
      record.dispatchedTo = null;
      destination.activeUpstream().dec();
      this.downstreamOf(destination.labels[0]).dec();
    } else {
      // Refused before anything went upstream: no destination, as in Kthena (which binds it after scheduling).
      destination = this.destination(record, this.modelLabel(record), record.outcome !== null);
    }
    const model = destination.labels[0];
    const series = destination.status(statusOf(record));
    destination.requests(series, finishReasonOf(record)).inc();
    series.duration.observe(Math.max(0, record.endedAt - record.receivedAt) / 1000);
    if (tokens.input > 0) destination.tokens('input').inc(tokens.input);
    if (tokens.output > 0) destination.tokens('output').inc(tokens.output);
    const attempts = record.outcome?.attempts ?? 0;
    if (attempts > 1) this.retriesOf(model, record.server?.key ?? record.provider?.key ?? NONE).inc(attempts - 1);
    const path = destination.labels[1];
    if (record.prefill !== undefined) this.m.prefill.labels(model, path, String(record.prefill.status)).observe(record.prefill.durationMs / 1000);
    if (record.decode !== undefined) this.m.decode.labels(model, path, String(record.decode.status)).observe(record.decode.durationMs / 1000);
  }

  pluginDuration(model: string, plugin: string, type: 'filter' | 'score', seconds: number): void {
    const byPlugin = this.plugins[type];
    let byModel = byPlugin.get(plugin);
    if (byModel === undefined) byPlugin.set(plugin, (byModel = new Map<string, HistogramSeries>()));
    let child = byModel.get(model);
    if (child === undefined) byModel.set(bounded(byModel, model), (child = this.m.pluginDuration.labels(model, plugin, type)));
    child.observe(seconds);
  }

  prefixCacheMatch(model: string, ratio: number): void {
    let child = this.prefixRatio.get(model);
    if (child === undefined) this.prefixRatio.set(bounded(this.prefixRatio, model), (child = this.m.prefixMatchRatio.labels(model)));
    child.observe(ratio);
  }

  kvCacheMatch(model: string, ratio: number): void {
    this.kvCache.match(model, ratio);
  }

  tokenizeDuration(model: string, seconds: number, ok: boolean): void {
    this.kvCache.tokenized(model, seconds, ok);
  }

  kvCacheRedisDuration(model: string, seconds: number): void {
    this.kvCache.redisLookup(model, seconds);
  }

  kvCacheError(model: string, stage: 'tokenize' | 'redis'): void {
    this.kvCache.error(model, stage);
  }

  prefixCacheEviction(model: string): void {
    let child = this.prefixEvictions.get(model);
    if (child === undefined) this.prefixEvictions.set(bounded(this.prefixEvictions, model), (child = this.m.prefixEvictions.labels(model)));
    child.inc();
  }

  /** A request refused by a token rate limit: limitType is input_tokens or output_tokens (Kthena also has requests). */
  rateLimitExceeded(model: string, limitType: string, path: string): void {
    this.m.rateLimitExceeded.labels(model, limitType, pathLabel(path)).inc(); // only routed requests are limited: a known model
  }

  /** The rate-limit store (Redis) could not be asked; failureMode says what happened to the request. */
  rateLimitStoreError(failureMode: string): void {
    this.m.rateLimitStoreErrors.labels(failureMode).inc();
  }

  /** The text exposition format, for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private modelLabel(record: RequestRecord): string {
    const model = record.model;
    if (model === null) return UNKNOWN;
    return record.route !== null || this.knownModel(model) ? model : UNKNOWN;
  }

  private destination(record: RequestRecord, model: string, resolved: boolean): Destination {
    const path = pathLabel(record.path);
    const backend = record.server ?? record.provider ?? null;
    const bound = resolved && backend !== null;
    const provider = bound && record.server === null;
    const route = bound ? (record.route?.key ?? NONE) : NONE;
    const server = bound ? backend.key : NONE;
    // A provider and a ModelServer may share a name: their shortcuts must not.
    const serverKey = provider ? `provider:${server}` : server;
    const upstream = bound ? (record.upstreamModel ?? NONE) : NONE;
    const byPath = this.destinations.get(model);
    const byRoute = byPath?.get(path);
    const byServer = byRoute?.get(route);
    const byUpstream = byServer?.get(serverKey);
    let destination = byUpstream?.get(upstream);
    if (destination === undefined) {
      destination = new Destination(this.m, [model, path, route, provider ? EXTERNAL_PROVIDER : bound ? MODEL_SERVER : UNRESOLVED, server, upstream]);
      if (++this.destinationCount > MAX_CACHED) {
        // Only after many reloads: the shortcuts start over (the families keep the series).
        this.destinations = new Map();
        this.destinationCount = 1;
      }
      nestedSet(this.destinations, [model, path, route, serverKey, upstream], destination);
    }
    return destination;
  }

  private downstreamOf(model: string): GaugeSeries {
    let child = this.downstream.get(model);
    if (child === undefined) this.downstream.set(model, (child = this.m.activeDownstream.labels(model)));
    return child;
  }

  private retriesOf(model: string, server: string): CounterSeries {
    const key = `${model}\n${server}`;
    let child = this.retries.get(key);
    if (child === undefined) this.retries.set(bounded(this.retries, key), (child = this.m.retries.labels(model, server)));
    return child;
  }
}

type Nested<V> = Map<string, Map<string, Map<string, Map<string, Map<string, V>>>>>;

function nestedSet<V>(root: Nested<V>, keys: readonly [string, string, string, string, string], value: V): void {
  let map = root as Map<string, unknown>;
  for (let i = 0; i < keys.length - 1; i++) {
    let next = map.get(keys[i]) as Map<string, unknown> | undefined;
    if (next === undefined) map.set(keys[i], (next = new Map()));
    map = next;
  }
  map.set(keys[keys.length - 1], value);
}

/** Clears a cache that grew past MAX_CACHED (the families keep the series; only the shortcuts go). */
function bounded<K>(cache: Map<K, unknown>, key: K): K {
  if (cache.size >= MAX_CACHED) cache.clear();
  return key;
}
