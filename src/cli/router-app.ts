// Composition root of `switchyard serve`: file source → snapshot store → server, with pools, pod state, health
// checks and engine-metrics scraping following every snapshot swap, and the filter/score scheduler configured by the
// router configuration file, and observability (metrics, access log, debug server: observability-setup.ts).
// Tests start the same thing in-process.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { EngineStateTable, type EngineStatsSource } from '../engines/engine-state.ts';
import { DEFAULT_SCRAPER_OPTIONS, EngineScraper, staleAfterMs } from '../engines/scraper.ts';
import { HealthChecker, DEFAULT_HEALTH_CHECK } from '../pods/health-checker.ts';
import { PodStateTable } from '../pods/pod-state.ts';
import { DEFAULT_POOL_OPTIONS, UpstreamPools, providerPoolKey, type UpstreamPoolOptions } from '../proxy/upstream-pools.ts';
import { RateLimiter, type RateLimitFailureMode } from '../filters/rate-limit/rate-limiter.ts';
import type { Admission, Authenticator } from '../pipeline/filters.ts';
import { formatIssue, type ConfigIssue } from '../resources/types.ts';
import { setUpScheduler } from '../scheduling/config/scheduler-setup.ts';
import type { RequestRecord } from '../server/inference-handler.ts';
import { createPathPolicy } from '../routing/path-policy.ts';
import type { ListenerLimits } from '../server/listener-limits.ts';
import { RouterServer } from '../server/router-server.ts';
import { readTlsFiles, watchTlsFiles, type TlsFiles } from '../server/tls-files.ts';
import { SnapshotStore } from '../snapshot/snapshot-store.ts';
import { FileSource } from '../sources/file-source.ts';
import { Observability, type ObservabilityOptions } from './observability-setup.ts';

export interface RouterAppOptions extends Omit<ObservabilityOptions, 'metricsHost'> {
  readonly configPaths: readonly string[];
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
  /** Filters of the pipeline's authenticate and admit stages; absent: none. */
  readonly authenticator?: Authenticator | null;
  readonly admission?: Admission | null;
  /** Streaming requests waiting for admission get SSE heartbeats this often (default 5 s). */
  readonly queueHeartbeatMs?: number;
}

export interface RouterApp {
  readonly url: string;
  readonly port: number;
  readonly store: SnapshotStore;
  readonly server: RouterServer;
  /** Scraped engine state per pod origin (metrics, loaded models). */
  readonly engines: EngineStatsSource;
  /** Base URL of the /metrics listener, of the debug listener (127.0.0.1); null when off. */
  readonly metricsUrl: string | null;
  readonly debugUrl: string | null;
  /** Graceful: stop accepting, finish running requests within the timeout, release everything. */
  shutdown(drainTimeoutMs: number): Promise<boolean>;
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
  const source = new FileSource({ paths: options.configPaths, debounceMs: options.reloadDebounceMs });
  const store = new SnapshotStore();
  const podStates = new PodStateTable();
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
  const scraper = scrape.intervalMs > 0 ? new EngineScraper(engines, scrape) : null;
  const observability = await Observability.create({ ...options, metricsHost: options.host }, { store, engines, podStates }, log);
  const scheduler = await setUpScheduler({
    routerConfigFile: options.routerConfigFile,
    reloadDebounceMs: options.reloadDebounceMs,
    env: { podStates, engines, random: Math.random, observer: observability.metrics },
    onPluginError: (plugin, stage, err) => log.warn({ plugin, stage, err }, 'scheduler plugin failed; treated as having no opinion'),
    maxInFlightPerPod: pools.connectionsPerPod,
  });
  logIssues(log, scheduler.issues);
  if (!scheduler.ok) {
    await observability.close();
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

  store.onSwap((next) => {
    rateLimiter.update(next);
    // Pods and providers keep their connection pools and live state; those of upstreams no longer configured go.
    const upstreams = new Set(next.endpoints.keys());
    for (const provider of next.providers.values()) upstreams.add(providerPoolKey(provider.origin, provider.insecureSkipVerify));
    pools.retain(upstreams);
    podStates.retain(upstreams);
    health?.setOrigins(next.endpoints.keys());
    scraper?.setOrigins(next.endpoints.keys());
    picker.retain(next.endpoints);
  });

  const first = store.apply(await source.load());
  logIssues(log, first.issues);
  if (!first.accepted) {
    await rateLimiter.close();
    throw new ConfigRejectedError(first.issues.filter((i) => i.severity === 'error'));
  }
  // Global rate limits: give Redis a moment to connect (a router also starts while it is down).
  if (!(await rateLimiter.ready(REDIS_CONNECT_WAIT_MS))) log.warn({ failureMode: rateLimitFailureMode }, 'rate-limit store (Redis) not reachable at start-up');
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
  });

  await scheduler.watch((event) => {
    logIssues(log, event.issues);
    if (event.accepted) log.info({ file: options.routerConfigFile }, 'router configuration reloaded');
    else log.error({ file: options.routerConfigFile }, 'router configuration rejected; the last good one keeps scheduling');
  });

  const server = new RouterServer(
    {
      store, picker, pools, podStates, onDispatch: observability.onDispatch, onRequestDone: observability.onRequestDone,
      rateLimiter,
      authenticator: options.authenticator ?? null,
      admission: options.admission ?? null,
      queueHeartbeatMs: options.queueHeartbeatMs,
      onRateLimited: observability.metrics === null ? null : (model, limitType, path) => observability.metrics?.rateLimitExceeded(model, limitType, path),
    },
    {
      maxBodyBytes: options.maxBodyBytes,
      limits: options.limits,
      pathPolicy: createPathPolicy(options.allowPaths),
      allowExplainHeader: options.allowExplainHeader,
      metrics: observability.routerPortMetrics,
      log,
      tls,
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
    address = await server.listen(options.port, options.host);
    await observability.listen({ store, engines, podStates, picker });
  } catch (err) {
    await Promise.all([server.drain(0), source.close(), scheduler.close(), observability.close(), tlsWatcher?.close(), rateLimiter.close()]);
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
    metricsUrl: observability.metricsUrl,
    debugUrl: observability.debugUrl,
    async shutdown(drainTimeoutMs: number): Promise<boolean> {
      // Stop accepting first (drain closes the listener at once), then release the watcher and the prober.
      const drained = server.drain(drainTimeoutMs);
      await Promise.all([source.close(), health?.stop(), scheduler.close(), scraper?.stop(), tlsWatcher?.close()]);
      const clean = await drained;
      await Promise.all([pools.closeAll(), observability.close(), rateLimiter.close()]);
      return clean;
    },
  };
}

/** The --upstream-ca bundle's text; throws naming the file when it cannot be read or holds no certificate. */
async function readUpstreamCa(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --upstream-ca ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--upstream-ca ${file} holds no PEM certificate`);
  return text;
}

function logIssues(log: Logger, issues: readonly ConfigIssue[]): void {
  for (const issue of issues) {
    const fields = { file: issue.file, document: issue.documentIndex, object: issue.object, field: issue.path };
    if (issue.severity === 'error') log.error(fields, formatIssue(issue));
    else log.warn(fields, formatIssue(issue));
  }
}
