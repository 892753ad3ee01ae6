// Wires observability into the router: Prometheus metrics (own listener and/or the router port), the access log,
// the scheduler's metrics observer, and the localhost-only debug server with routing explanations.
import type { Logger } from 'pino';
import type { EngineStateTable } from '../engines/engine-state.ts';
import { AccessLog, type AccessLogOptions } from '../observability/access-log.ts';
import { DEFAULT_METRICS_PREFIX } from '../observability/metric-definitions.ts';
import { RouterMetrics } from '../observability/metrics.ts';
import type { RequestRecord } from '../observability/request-record.ts';
import { requestTokens } from '../observability/token-estimate.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import type { PathPolicy } from '../routing/path-policy.ts';
import type { FrameworkPicker } from '../scheduling/framework/framework-picker.ts';
import { PrefixCachePlugin } from '../scheduling/plugins/prefix-cache.ts';
import { DebugServer } from '../server/debug-server.ts';
import { MetricsServer } from '../server/metrics-server.ts';
import type { SnapshotStore } from '../snapshot/snapshot-store.ts';

export interface ObservabilityOptions {
  /** Port of the /metrics listener; null or absent: none (0: any free port). */
  readonly metricsPort?: number | null;
  /** Address of the /metrics listener; default: all interfaces. */
  readonly metricsHost?: string;
  /** Also serve GET /metrics on the router's port. */
  readonly exposeMetricsOnRouterPort?: boolean;
  /** Metric name prefix; default "switchyard" ("kthena_router": Kthena's names). */
  readonly metricsPrefix?: string;
  /** null or absent: no access log. */
  readonly accessLog?: AccessLogOptions | null;
  /** Port of the debug listener on 127.0.0.1; null or absent: none (0: any free port). */
  readonly debugPort?: number | null;
  readonly onRequestDone?: (record: RequestRecord) => void;
}

export interface ObservedParts {
  readonly store: SnapshotStore;
  readonly engines: EngineStateTable;
  readonly podStates: PodStateTable;
}

export class Observability {
  readonly metrics: RouterMetrics | null;
  private readonly accessLog: AccessLog | null;
  private readonly options: ObservabilityOptions;
  private readonly log: Logger;
  private picker: FrameworkPicker | null = null;
  private activeApiRequests: () => number = () => 0;
  private metricsServer: MetricsServer | null = null;
  private debugServer: DebugServer | null = null;
  metricsUrl: string | null = null;
  debugUrl: string | null = null;

  private constructor(options: ObservabilityOptions, parts: ObservedParts, accessLog: AccessLog | null, log: Logger) {
    this.options = options;
    this.accessLog = accessLog;
    this.log = log;
    const enabled = (options.metricsPort ?? null) !== null || options.exposeMetricsOnRouterPort === true;
    this.metrics = !enabled ? null : new RouterMetrics({
      prefix: options.metricsPrefix ?? DEFAULT_METRICS_PREFIX,
      knownModel: (model) => {
        const snapshot = parts.store.snapshot;
        return snapshot !== null && (snapshot.routesByModel.has(model) || snapshot.routesByLora.has(model));
      },
      activeRequests: () => this.activeApiRequests(),
      prefixCacheEntries: () => this.prefixCacheEntries(),
      pods: { snapshot: () => parts.store.snapshot, engines: parts.engines, podStates: parts.podStates },
    });
  }

  /** Opens the access log (a file that cannot be opened is an error: the router does not start). */
  static async create(options: ObservabilityOptions, parts: ObservedParts, log: Logger): Promise<Observability> {
    const accessLog = options.accessLog == null ? null : await AccessLog.open(options.accessLog);
    return new Observability(options, parts, accessLog, log);
  }

  /** What the server and the scrape-time gauges read, once they exist. */
  bind(activeApiRequests: () => number, picker: FrameworkPicker): void {
    this.activeApiRequests = activeApiRequests;
    this.picker = picker;
  }

  readonly onDispatch = (record: RequestRecord): void => {
    this.metrics?.requestDispatched(record);
  };

  readonly onRequestDone = (record: RequestRecord): void => {
    if (this.metrics !== null || this.accessLog !== null) {
      try {
        const tokens = requestTokens(record.outcome?.usage ?? null, record.body);
        this.metrics?.requestDone(record, tokens);
        this.accessLog?.write(record, tokens);
      } catch (err) {
        this.log.warn({ err, requestId: record.requestId }, 'recording a request failed');
      }
    }
    this.options.onRequestDone?.(record);
  };

  /** For the router's own listener (--expose-metrics-on-router-port). */
  get routerPortMetrics(): RouterMetrics | null {
    return this.options.exposeMetricsOnRouterPort === true ? this.metrics : null;
  }

  /** Starts the metrics and debug listeners. */
  async listen(deps: ObservedParts & { picker: FrameworkPicker; pathPolicy: PathPolicy }): Promise<void> {
    const metricsPort = this.options.metricsPort ?? null;
    if (this.metrics !== null && metricsPort !== null) {
      this.metricsServer = new MetricsServer(this.metrics);
      const address = await this.metricsServer.listen(metricsPort, this.options.metricsHost).catch(naming(`the metrics listener (--metrics-port ${metricsPort})`));
      this.metricsUrl = `http://${urlHost(address.address)}:${address.port}`;
      this.log.info({ url: `${this.metricsUrl}/metrics` }, 'metrics listening');
    }
    const debugPort = this.options.debugPort ?? null;
    if (debugPort !== null) {
      this.debugServer = new DebugServer(deps);
      const address = await this.debugServer.listen(debugPort).catch(naming(`the debug listener (--debug-port ${debugPort})`));
      this.debugUrl = `http://${address.address}:${address.port}`;
      this.log.info({ url: `${this.debugUrl}/debug/config_dump/modelroutes` }, 'debug server listening on localhost');
    }
  }

  /** Opens the access log file again (SIGHUP after a rotation); false when it is stdout, stderr or off. */
  reopenAccessLog(): Promise<boolean> {
    return this.accessLog?.reopen() ?? Promise.resolve(false);
  }

  /** Closes the listeners and flushes the access log. */
  async close(): Promise<void> {
    await Promise.all([this.metricsServer?.close(), this.debugServer?.close()]);
    await this.accessLog?.close();
  }

  private prefixCacheEntries(): number {
    let entries = 0;
    for (const plugin of this.picker?.profile.plugins ?? []) if (plugin instanceof PrefixCachePlugin) entries += plugin.store.entries;
    return entries;
  }
}

/** Rejects with the error prefixed by which listener failed: "address already in use" alone does not say whose port. */
export function naming(listener: string): (err: unknown) => never {
  return (err) => {
    throw new Error(`${listener}: ${(err as Error).message}`, { cause: err });
  };
}

function urlHost(address: string): string {
  if (address === '0.0.0.0' || address === '::') return '127.0.0.1';
  return address.includes(':') ? `[${address}]` : address;
}
