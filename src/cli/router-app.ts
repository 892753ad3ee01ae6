// Composition root of `switchyard serve`: file source → snapshot store → server, with pools, pod state, health
// checks and engine-metrics scraping following every snapshot swap, and the filter/score scheduler configured by the
// router configuration file, and observability (metrics, access log, debug server: observability-setup.ts).
// Tests start the same thing in-process.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { EngineStateTable, type EngineStatsSource } from '../engines/engine-state.ts';
import { KthenaRedisClients, kthenaRedisAddress } from '../engines/kthena-redis/redis-index.ts';
import { KvEventTable, kvEventTargets } from '../engines/kv-events/kv-event-table.ts';
import type { KvCacheMetrics } from '../observability/kvcache-metrics.ts';
import { EngineTokenizer } from '../tokenization/engine-tokenizer.ts';
import { DEFAULT_SCRAPER_OPTIONS, EngineScraper, staleAfterMs } from '../engines/scraper.ts';
import { HealthChecker, DEFAULT_HEALTH_CHECK } from '../pods/health-checker.ts';
import { PodStateTable } from '../pods/pod-state.ts';
import { DEFAULT_POOL_OPTIONS, UpstreamPools, providerPoolKey, type UpstreamPoolOptions } from '../proxy/upstream-pools.ts';
import { RateLimiter, type RateLimitFailureMode } from '../filters/rate-limit/rate-limiter.ts';
import type { Admission, Authenticator } from '../pipeline/filters.ts';
import { formatIssue, type ConfigIssue } from '../resources/types.ts';
import { setUpScheduler } from '../scheduling/config/scheduler-setup.ts';
import { ResponseOwners } from '../scheduling/response-owners.ts';
import { SharedResponseOwners } from '../scheduling/shared-response-owners.ts';
import type { RequestRecord } from '../server/inference-handler.ts';
import { createPathPolicy } from '../routing/path-policy.ts';
import type { ListenerLimits } from '../server/listener-limits.ts';
import { RouterServer } from '../server/router-server.ts';
import { readTlsFiles, watchTlsFiles, type TlsFiles } from '../server/tls-files.ts';
import { SnapshotStore } from '../snapshot/snapshot-store.ts';
import type { ConfigSource } from '../sources/config-source.ts';
import { FileSource } from '../sources/file-source.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import { DEFAULT_METRICS_PREFIX } from '../observability/metric-definitions.ts';
import { Observability, naming, type ObservabilityOptions } from './observability-setup.ts';
import { TrafficFilters } from './traffic-filters.ts';

/** After pod-only snapshot swaps, how long before pools, pod state, probes and scrapers follow the endpoint set. */
const ENDPOINT_FOLLOW_DELAY_MS = 100;

export interface RouterAppOptions extends Omit<ObservabilityOptions, 'metricsHost'> {
  /** Files and directories of resources; ignored with `kubernetes`. */
  readonly configPaths: readonly string[];
  /** Read resources and pods from the Kubernetes API instead of files. */
  readonly kubernetes?: { readonly kubeconfig?: string; readonly namespaces: readonly string[]; readonly watchTimeoutSeconds?: number };
  readonly port: number;
  readonly host?: string;
  readonly maxBodyBytes: number;
  /** Listener timeouts, sizes and connection cap; unset fields take the defaults (listener-limits.ts). */
  readonly limits?: Partial<ListenerLimits>;
  /** POST paths forwarded besides the inference API (--allow-path). */
  readonly allowPaths?: readonly string[];
  readonly reloadDebounceMs: number;
  /** 0 disables active health checks. */
  readonly healthCheckIntervalMs: number;
  readonly logger: Logger;
  readonly onRequestDone?: (record: RequestRecord) => void;
  /** Kthena-format router configuration file (scheduler plugins); absent: the built-in defaults. Hot-reloaded. */
  readonly routerConfigFile?: string;
  /** Interval of GET /metrics and /v1/models on every pod; default 1 s, 0 disables scraping. */
  readonly metricsScrapeIntervalMs?: number;
  /** Timeout of one scrape request; default 5 s. */
  readonly metricsScrapeTimeoutMs?: number;
  /** Honour x-switchyard-explain on inference requests (--allow-explain-header). */
  readonly allowExplainHeader?: boolean;
  /** Serve HTTPS with these PEM files (--tls-cert, --tls-key), reloaded when they change. */
  readonly tls?: TlsFiles;
  /** PEM bundle of CAs trusted for https pods (--upstream-ca), besides Node's. */
  readonly upstreamCaFile?: string;
  /** Upstream timeouts and connection cap; unset fields take the defaults (upstream-pools.ts). */
  readonly upstream?: Partial<Omit<UpstreamPoolOptions, 'ca'>>;
  /** When Redis cannot be asked about a global rate limit: let requests through (default) or refuse them. */
  readonly rateLimitFailureMode?: RateLimitFailureMode;
  /**
   * Filters of the pipeline's authenticate and admit stages; absent: built from the router configuration's `auth`
   * and `fairness` sections and Kthena's fairness environment variables (`env`).
   */
  readonly authenticator?: Authenticator | null;
  readonly admission?: Admission | null;
  /** Where Kthena's ENABLE_FAIRNESS_SCHEDULING / FAIRNESS_* / SESSION_BOOST_* are read; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Streaming requests waiting for admission get SSE heartbeats this often (default 5 s). */
  readonly queueHeartbeatMs?: number;
  /** How long a pod's KV block index stays untrusted after its events were lost for good; default 30 s. */
  readonly kvEventsWarmupMs?: number;
}

export interface RouterApp {
  readonly url: string;
  readonly port: number;
  readonly store: SnapshotStore;
  readonly server: RouterServer;
  /** Scraped engine state per pod origin (metrics, loaded models). */
  readonly engines: EngineStatsSource;
  /** Every pod's KV block index from its KV events. */
  readonly kvBlocks: KvEventTable;
  /** Base URL of the /metrics listener, of the debug listener (127.0.0.1); null when off. */
  readonly metricsUrl: string | null;
  readonly debugUrl: string | null;
  /** Graceful: stop accepting, finish running requests within the timeout, release everything. */
  shutdown(drainTimeoutMs: number): Promise<boolean>;
  /** Opens the access log file again by its name (after logrotate moved it); false when it is not a file. */
  reopenAccessLog(): Promise<boolean>;
}

/** How long start-up waits for Redis (global rate limits) before serving anyway. */
const REDIS_CONNECT_WAIT_MS = 3000;

export class ConfigRejectedError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(`configuration rejected:\n${issues.map(formatIssue).join('\n')}`);
    this.issues = issues;
  }
}

export async function startRouterApp(options: RouterAppOptions): Promise<RouterApp> {
  const log = options.logger;
  const store = new SnapshotStore();
  const podStates = new PodStateTable();
  // A pod that stops answering /health was silent in the logs: only its 502s or its pod_healthy gauge told.
  podStates.onProbeChange((origin, healthy, error) => {
    if (healthy) log.info({ origin }, 'pod passes its health probe again');
    else log.warn({ origin, err: error }, 'pod fails its health probe; it is tried last until it passes');
  });
  const ca = await readUpstreamCa(options.upstreamCaFile);
  const tls = options.tls === undefined ? null : await readTlsFiles(options.tls);
  const pools = new UpstreamPools({ ...DEFAULT_POOL_OPTIONS, ...options.upstream, ca });
  const health = options.healthCheckIntervalMs > 0
    ? new HealthChecker(podStates, { ...DEFAULT_HEALTH_CHECK, intervalMs: options.healthCheckIntervalMs, ca })
    : null;
  const scrape = {
    ...DEFAULT_SCRAPER_OPTIONS,
    ca,
    intervalMs: options.metricsScrapeIntervalMs ?? DEFAULT_SCRAPER_OPTIONS.intervalMs,
    timeoutMs: options.metricsScrapeTimeoutMs ?? DEFAULT_SCRAPER_OPTIONS.timeoutMs,
  };
  const engines = new EngineStateTable({ staleAfterMs: staleAfterMs(scrape) });
  const kvMetrics = { current: null as KvCacheMetrics | null };
  const scraper = scrape.intervalMs > 0 ? new EngineScraper(engines, scrape) : null;
  const observability = await Observability.create({ ...options, metricsHost: options.host }, { store, engines, podStates }, log);
  kvMetrics.current = observability.metrics?.kvCache ?? null;
  // kvcache-aware: every annotated pod's KV events, and the engines' /tokenize.
  const kvBlocks = new KvEventTable({
    warmupMs: options.kvEventsWarmupMs,
    counters: kvMetrics.current,
    onError: (origin, message) => log.warn({ pod: origin }, message),
  });
  kvMetrics.current?.bindIndexes(kvBlocks);
  const engineTokenizer = new EngineTokenizer({ timeoutMs: 5_000, maxInFlight: 256, ca });
  // kvcache-aware can also read Kthena's Redis index (REDIS_HOST, the plugin's redisAddress, or in a cluster
  // Kthena's default host `redis-server`, probed once).
  const kthenaRedis = new KthenaRedisClients(
    options.env ?? process.env,
    (address, message) => log.warn({ address, err: message }, 'kvcache-aware: Kthena\'s Redis index unreachable; its pods get no opinion'),
    options.kubernetes !== undefined ? 'redis-server' : null,
  );
  const traffic = TrafficFilters.create({
    env: options.env ?? process.env, log, engines, queueMetrics: observability.metrics?.queue ?? null, reloadDebounceMs: options.reloadDebounceMs,
  });
  logIssues(log, traffic.issues);
  const filters = traffic.filters;
  if (filters === null) {
    await observability.close();
    throw new ConfigRejectedError(traffic.issues.filter((i) => i.severity === 'error'));
  }
  const scheduler = await setUpScheduler({
    prepareSections: (sections, file) => filters.prepare(sections, file),
    routerConfigFile: options.routerConfigFile,
    reloadDebounceMs: options.reloadDebounceMs,
    env: { podStates, engines, random: Math.random, observer: observability.metrics, kvBlocks, kthenaRedis, engineTokenizer, log: (message) => log.warn(message) },
    onPluginError: (plugin, stage, err) => log.warn({ plugin, stage, err }, 'scheduler plugin failed; treated as having no opinion'),
    maxInFlightPerPod: pools.connectionsPerPod,
  });
  logIssues(log, scheduler.issues);
  if (!scheduler.ok) {
    await filters.close();
    await Promise.all([observability.close(), kthenaRedis.close()]);
    throw new ConfigRejectedError(scheduler.issues.filter((i) => i.severity === 'error'));
  }
  const picker = scheduler.picker;
  const rateLimitFailureMode = options.rateLimitFailureMode ?? 'open';
  const rateLimiter = new RateLimiter({
    failureMode: rateLimitFailureMode,
    onStoreError: (address, failureMode, err) => {
      log.warn({ address, failureMode, err: err.message },
        failureMode === 'open' ? 'rate-limit store unreachable: requests pass unlimited' : 'rate-limit store unreachable: requests are refused');
    },
    onStoreFailure: (failureMode) => observability.metrics?.rateLimitStoreError(failureMode),
  });

  const followEndpoints = (): void => {
    const next = store.snapshot;
    if (next === null) return;
    // Pods and providers keep their connection pools and live state; those of upstreams no longer configured go.
    const upstreams = new Set(next.endpoints.keys());
    for (const provider of next.providers.values()) upstreams.add(providerPoolKey(provider.origin, provider.insecureSkipVerify));
    pools.retain(upstreams);
    podStates.retain(upstreams);
    health?.setOrigins(next.endpoints.keys());
    scraper?.setOrigins(next.endpoints.keys());
    picker.retain(next.endpoints);
    kvBlocks.setTargets(kvEventTargets(next));
  };
  // Each of these walks every pod: after pod-only changes (Kubernetes pod churn) they run once per burst, a moment
  // later; until then a pod that left only keeps an idle pool and state that nothing routes to.
  let followTimer: NodeJS.Timeout | null = null;
  store.onSwap((next, _previous, podsOnly) => {
    if (!podsOnly) {
      rateLimiter.update(next);
      if (followTimer !== null) clearTimeout(followTimer);
      followTimer = null;
      followEndpoints();
    } else {
      followTimer ??= setTimeout(() => {
        followTimer = null;
        followEndpoints();
      }, ENDPOINT_FOLLOW_DELAY_MS);
    }
  });

  const source = await createSource(options, observability.metrics?.registry, log, store);
  let first;
  try {
    first = store.apply(await source.load());
  } catch (err) {
    await Promise.all([source.close(), scheduler.close(), observability.close(), kthenaRedis.close()]);
    throw err;
  }
  logIssues(log, first.issues);
  if (!first.accepted) {
    await filters.close();
    await Promise.all([rateLimiter.close(), kthenaRedis.close()]);
    throw new ConfigRejectedError(first.issues.filter((i) => i.severity === 'error'));
  }
  // Which pod stores each Responses API response: shared by the replicas when Redis is configured (REDIS_HOST).
  const sharedOwnersAt = kthenaRedisAddress(options.env ?? process.env);
  const sharedOwners = sharedOwnersAt === null ? null : new SharedResponseOwners(sharedOwnersAt, (message) => log.warn({ err: message }, 'stored responses: the replicas\' shared record (Redis) failed'));
  const responseOwners = new ResponseOwners(undefined, sharedOwners);
  // Global rate limits, kvcache-aware's Kthena index, the shared response owners: give Redis a moment to connect (a
  // router also starts while it is down).
  const [rateLimitStore, kthenaIndex, sharedOwnersReady] = await Promise.all([
    rateLimiter.ready(REDIS_CONNECT_WAIT_MS), kthenaRedis.ready(REDIS_CONNECT_WAIT_MS), sharedOwners?.waitReady(REDIS_CONNECT_WAIT_MS) ?? true,
  ]);
  if (!rateLimitStore) log.warn({ failureMode: rateLimitFailureMode }, 'rate-limit store (Redis) not reachable at start-up');
  if (!kthenaIndex) log.warn('kvcache-aware: Kthena\'s Redis index not reachable at start-up');
  if (!sharedOwnersReady) log.warn({ redis: sharedOwners?.address }, 'stored responses: the replicas\' shared record (Redis) not reachable at start-up');
  log.info({ generation: first.snapshot.generation, ...first.snapshot.stats }, 'configuration loaded');

  // Resolves once the watcher is in place: from then on no change is missed (see FileSource.watch).
  await source.watch((state) => {
    const result = store.apply(state);
    logIssues(log, result.issues);
    if (result.accepted) {
      log.info({ generation: result.snapshot.generation, ...result.snapshot.stats }, 'configuration reloaded');
    } else {
      log.error({ errors: result.issues.filter((i) => i.severity === 'error').length },
        'configuration rejected; the last good configuration keeps serving');
    }
  }, (pods) => {
    const next = store.applyPodChanges(pods);
    if (next !== null) log.debug({ generation: next.generation, upserted: pods.upserted.length, removed: pods.removed.length, pods: next.stats.pods }, 'pods changed');
  });

  await filters.keyFileWatched();
  await scheduler.watch((event) => {
    logIssues(log, event.issues);
    if (event.accepted) log.info({ file: options.routerConfigFile }, 'router configuration reloaded');
    else log.error({ file: options.routerConfigFile }, 'router configuration rejected; the last good one keeps scheduling');
  });

  const pathPolicy = createPathPolicy(options.allowPaths);
  const server = new RouterServer(
    {
      store, picker, pools, podStates, onDispatch: observability.onDispatch, onRequestDone: observability.onRequestDone,
      rateLimiter,
      authenticator: options.authenticator !== undefined ? options.authenticator : filters.authenticator,
      admission: options.admission !== undefined ? options.admission : filters.admission,
      queueHeartbeatMs: options.queueHeartbeatMs,
      responseOwners,
      onRateLimited: observability.metrics === null ? null : (model, limitType, path) => observability.metrics?.rateLimitExceeded(model, limitType, path),
    },
    {
      maxBodyBytes: options.maxBodyBytes,
      limits: options.limits,
      pathPolicy,
      allowExplainHeader: options.allowExplainHeader,
      metrics: observability.routerPortMetrics,
      log,
      tls,
      ...(source.status !== undefined && { sourceStatus: () => ({ name: source.name, ...source.status?.() }) }),
    },
  );
  const tlsWatcher = options.tls === undefined ? null : await watchTlsFiles(
    options.tls,
    options.reloadDebounceMs,
    (next) => {
      server.setTlsCredentials(next);
      log.info({ cert: options.tls?.certFile }, 'TLS certificate reloaded');
    },
    (err) => log.error({ err: err.message }, 'TLS certificate change rejected; the last good one keeps serving'),
  );
  observability.bind(() => server.activeApiRequests, picker);
  let address;
  try {
    address = await server.listen(options.port, options.host).catch(naming(`the router listener (--port ${options.port})`));
    await observability.listen({ store, engines, podStates, picker, pathPolicy });
  } catch (err) {
    await Promise.all([server.drain(0), source.close(), scheduler.close(), observability.close(), tlsWatcher?.close(), rateLimiter.close(), kvBlocks.close(), kthenaRedis.close(), engineTokenizer.close(), sharedOwners?.close()]);
    await filters.close();
    await pools.closeAll();
    throw err;
  }
  health?.start();
  scraper?.start();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${tls === null ? 'http' : 'https'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  log.info({ url }, 'switchyard listening');

  return {
    url,
    port: address.port,
    store,
    server,
    engines,
    kvBlocks,
    metricsUrl: observability.metricsUrl,
    debugUrl: observability.debugUrl,
    reopenAccessLog: () => observability.reopenAccessLog(),
    async shutdown(drainTimeoutMs: number): Promise<boolean> {
      // Stop accepting first (drain closes the listener at once), then release the watcher and the prober.
      const drained = server.drain(drainTimeoutMs);
      if (followTimer !== null) clearTimeout(followTimer);
      await Promise.all([source.close(), health?.stop(), scheduler.close(), scraper?.stop(), tlsWatcher?.close()]);
      const clean = await drained;
      await filters.close();
      await Promise.all([pools.closeAll(), observability.close(), rateLimiter.close(), kvBlocks.close(), kthenaRedis.close(), engineTokenizer.close(), sharedOwners?.close()]);
      return clean;
    },
  };
}

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';

/**
 * The --upstream-ca bundle's text; throws naming the file when it cannot be read, holds no certificate, or one that
 * does not parse (TLS would skip it silently, and every upstream it signs would then fail verification).
 */
async function readUpstreamCa(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --upstream-ca ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!text.includes(PEM_BEGIN)) throw new Error(`--upstream-ca ${file} holds no PEM certificate`);
  let index = 0;
  for (let begin = text.indexOf(PEM_BEGIN); begin >= 0; begin = text.indexOf(PEM_BEGIN, begin + PEM_BEGIN.length)) {
    index++;
    const end = text.indexOf(PEM_END, begin);
    const next = text.indexOf(PEM_BEGIN, begin + PEM_BEGIN.length);
    try {
      if (end < 0 || (next >= 0 && next < end)) throw new Error(`no ${PEM_END} line`);
      new X509Certificate(text.slice(begin, end + PEM_END.length));
    } catch (err) {
      throw new Error(`--upstream-ca ${file}: certificate ${index} does not parse: ${(err as Error).message}`, { cause: err });
    }
  }
  return text;
}

async function createSource(options: RouterAppOptions, registry: Registry | undefined, log: Logger, store: SnapshotStore): Promise<ConfigSource> {
  if (options.kubernetes === undefined) return new FileSource({ paths: options.configPaths, debounceMs: options.reloadDebounceMs });
  // Loaded only in Kubernetes mode: the client library alone takes ~90 MB of memory.
  const { KubernetesSource } = await import('../sources/kubernetes/kubernetes-source.ts');
  const prefix = options.metricsPrefix ?? DEFAULT_METRICS_PREFIX;
  const registers = registry === undefined ? [] : [registry];
  const connected = new Gauge({ name: `${prefix}_kubernetes_connected`, help: '1 while every list/watch of the Kubernetes API is connected', registers });
  const invalid = new Gauge({ name: `${prefix}_kubernetes_invalid_objects`, help: 'Objects left out because they are invalid', registers });
  const rejected = new Counter({ name: `${prefix}_kubernetes_object_errors_total`, help: 'Invalid object versions seen', registers });
  let wasConnected = false;
  const source = new KubernetesSource({
    ...options.kubernetes,
    onIssue: (issue) => {
      if (issue.severity === 'error') rejected.inc();
      logIssues(log, [issue]);
    },
    onFieldsNotActedOn: (object, fields) => {
      log.info({ object, fields }, 'fields Switchyard does not act on, left as they are');
    },
    onResync: (path, reason) => log.warn({ path }, reason),
    onStatusWriteError: (object, error) => log.warn({ object, err: error.message }, 'could not write the status; trying again (every 2 s, doubling up to 1 min) and with the next change'),
    onStatus: (status) => {
      connected.set(status.connected ? 1 : 0);
      invalid.set(status.invalidObjects);
      const connectedBefore = wasConnected;
      wasConnected = status.connected;
      if (status.connected && !connectedBefore) log.info({ invalidObjects: status.invalidObjects }, 'kubernetes API connected');
      // A watch that is starting (at start-up, or after the pod selector changed) is not connected yet, without error.
      if (!status.connected && status.error !== undefined) log.warn({ error: status.error }, 'kubernetes API unreachable; the last state keeps serving');
    },
  });
  // Providers' conditions go back to their status, as Kthena's router writes them (only what changed).
  store.onSwap((next, _previous, podsOnly) => {
    if (podsOnly) return;
    for (const provider of next.providers.values()) source.reportProviderConditions(provider.namespace, provider.name, provider.conditions);
  });
  log.info({ server: source.server, namespaces: options.kubernetes.namespaces }, 'reading resources from kubernetes');
  return source;
}

function logIssues(log: Logger, issues: readonly ConfigIssue[]): void {
  for (const issue of issues) {
    const fields = { file: issue.file, document: issue.documentIndex, object: issue.object, field: issue.path };
    if (issue.severity === 'error') log.error(fields, formatIssue(issue));
    else log.warn(fields, formatIssue(issue));
  }
}
