// Composition root of `switchyard serve`: file source → snapshot store → server, with pools, pod state and
// health checks following every snapshot swap. Tests start the same thing in-process.
import type { Logger } from 'pino';
import { HealthChecker, DEFAULT_HEALTH_CHECK } from '../pods/health-checker.ts';
import { PodStateTable } from '../pods/pod-state.ts';
import { UpstreamPools } from '../proxy/upstream-pools.ts';
import { formatIssue, type ConfigIssue } from '../resources/types.ts';
import { LeastRequestPicker } from '../scheduling/least-request-picker.ts';
import type { RequestRecord } from '../server/inference-handler.ts';
import { RouterServer } from '../server/router-server.ts';
import { SnapshotStore } from '../snapshot/snapshot-store.ts';
import { FileSource } from '../sources/file-source.ts';

export interface RouterAppOptions {
  readonly configPaths: readonly string[];
  readonly port: number;
  readonly host?: string;
  readonly maxBodyBytes: number;
  readonly reloadDebounceMs: number;
  /** 0 disables active health checks. */
  readonly healthCheckIntervalMs: number;
  readonly logger: Logger;
  readonly onRequestDone?: (record: RequestRecord) => void;
}

export interface RouterApp {
  readonly url: string;
  readonly port: number;
  readonly store: SnapshotStore;
  readonly server: RouterServer;
  /** Graceful: stop accepting, finish running requests within the timeout, release everything. */
  shutdown(drainTimeoutMs: number): Promise<boolean>;
}

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
  const pools = new UpstreamPools();
  const health = options.healthCheckIntervalMs > 0
    ? new HealthChecker(podStates, { ...DEFAULT_HEALTH_CHECK, intervalMs: options.healthCheckIntervalMs })
    : null;

  store.onSwap((next) => {
    pools.retain(next.endpoints);
    podStates.retain(next.endpoints);
    health?.setOrigins(next.endpoints.keys());
  });

  const first = store.apply(await source.load());
  logIssues(log, first.issues);
  if (!first.accepted) throw new ConfigRejectedError(first.issues.filter((i) => i.severity === 'error'));
  log.info({ generation: first.snapshot.generation, ...first.snapshot.stats }, 'configuration loaded');

  source.watch((state) => {
    const result = store.apply(state);
    logIssues(log, result.issues);
    if (result.accepted) {
      log.info({ generation: result.snapshot.generation, ...result.snapshot.stats }, 'configuration reloaded');
    } else {
      log.error({ errors: result.issues.filter((i) => i.severity === 'error').length },
        'configuration rejected; the last good configuration keeps serving');
    }
  });

  const server = new RouterServer(
    { store, picker: new LeastRequestPicker(podStates), pools, podStates, onRequestDone: options.onRequestDone },
    { maxBodyBytes: options.maxBodyBytes },
  );
  let address;
  try {
    address = await server.listen(options.port, options.host);
  } catch (err) {
    await source.close();
    await pools.closeAll();
    throw err;
  }
  health?.start();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  log.info({ url }, 'switchyard listening');

  return {
    url,
    port: address.port,
    store,
    server,
    async shutdown(drainTimeoutMs: number): Promise<boolean> {
      await source.close();
      await health?.stop();
      const clean = await server.drain(drainTimeoutMs);
      await pools.closeAll();
      return clean;
    },
  };
}

function logIssues(log: Logger, issues: readonly ConfigIssue[]): void {
  for (const issue of issues) {
    const fields = { file: issue.file, document: issue.documentIndex, object: issue.object, field: issue.path };
    if (issue.severity === 'error') log.error(fields, formatIssue(issue));
    else log.warn(fields, formatIssue(issue));
  }
}
