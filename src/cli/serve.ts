// `switchyard serve`: run the router until SIGTERM/SIGINT, then drain and exit 0.
import { createLogger, type LogLevel } from '../observability/logger.ts';
import { formatIssue } from '../resources/types.ts';
import { ConfigRejectedError, startRouterApp, type RouterApp } from './router-app.ts';

/** Time allowed, after the drain timeout, for closing watchers and connection pools. */
const SHUTDOWN_GRACE_MS = 5000;

export interface ServeFlags {
  config?: string[];
  kubernetes?: boolean;
  namespace?: string[];
  kubeconfig?: string;
  port: number;
  host: string;
  drainTimeout: number;
  /** On SIGTERM, how long /readyz fails while requests are still accepted, before the drain. */
  shutdownGrace: number;
  maxBodySize: number;
  headerTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
  maxHeaderSize: number;
  allowPath?: string[];
  reloadDebounce: number;
  healthCheckInterval: number;
  /** Kthena-format router configuration file (scheduler plugins). */
  routerConfig?: string;
  metricsScrapeInterval: number;
  metricsScrapeTimeout: number;
  /** 0 disables. */
  metricsPort: number;
  exposeMetricsOnRouterPort?: boolean;
  metricsPrefix: string;
  /** stdout, stderr, a file path, or off. */
  accessLog: string;
  accessLogFormat: 'json' | 'text';
  /** 0 disables. */
  debugPort: number;
  allowExplainHeader?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  upstreamCa?: string;
  upstreamHeaderTimeout: number;
  streamIdleTimeout: number;
  upstreamConnectionWait: number;
  rateLimitFailureMode: 'open' | 'closed';
  logLevel: LogLevel;
}

export async function runServe(flags: ServeFlags): Promise<void> {
  const logger = createLogger(flags.logLevel);
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    process.stderr.write('switchyard: --tls-cert and --tls-key go together\n');
    process.exit(1);
  }
  let app: RouterApp;
  try {
    app = await startRouterApp({
      configPaths: flags.config ?? [],
      ...(flags.kubernetes === true && {
        kubernetes: { namespaces: flags.namespace ?? [], ...(flags.kubeconfig !== undefined && { kubeconfig: flags.kubeconfig }) },
      }),
      port: flags.port,
      host: flags.host,
      maxBodyBytes: flags.maxBodySize,
      limits: {
        headersTimeoutMs: flags.headerTimeout,
        bodyTimeoutMs: flags.bodyTimeout,
        keepAliveTimeoutMs: flags.keepAliveTimeout,
        maxConnections: flags.maxConnections,
        maxHeaderBytes: flags.maxHeaderSize,
      },
      allowPaths: flags.allowPath ?? [],
      reloadDebounceMs: flags.reloadDebounce,
      healthCheckIntervalMs: flags.healthCheckInterval,
      routerConfigFile: flags.routerConfig,
      metricsScrapeIntervalMs: flags.metricsScrapeInterval,
      metricsScrapeTimeoutMs: flags.metricsScrapeTimeout,
      metricsPort: flags.metricsPort === 0 ? null : flags.metricsPort,
      exposeMetricsOnRouterPort: flags.exposeMetricsOnRouterPort === true,
      metricsPrefix: flags.metricsPrefix,
      accessLog: flags.accessLog === 'off' ? null : { output: flags.accessLog, format: flags.accessLogFormat },
      debugPort: flags.debugPort === 0 ? null : flags.debugPort,
      allowExplainHeader: flags.allowExplainHeader === true,
      tls: flags.tlsCert !== undefined && flags.tlsKey !== undefined ? { certFile: flags.tlsCert, keyFile: flags.tlsKey } : undefined,
      upstreamCaFile: flags.upstreamCa,
      upstream: {
        headerTimeoutMs: flags.upstreamHeaderTimeout,
        streamIdleTimeoutMs: flags.streamIdleTimeout,
        connectionWaitMs: flags.upstreamConnectionWait,
      },
      rateLimitFailureMode: flags.rateLimitFailureMode,
      logger,
    });
  } catch (err) {
    logger.flush();
    if (err instanceof ConfigRejectedError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      process.stderr.write(`switchyard: the configuration has ${err.issues.length} error(s); not starting\n`);
    } else {
      process.stderr.write(`switchyard: cannot start: ${(err as Error).message}\n`);
    }
    process.exit(1);
  }
  installShutdown(app, flags.drainTimeout, flags.shutdownGrace, logger);
}

function installShutdown(app: RouterApp, drainTimeoutMs: number, graceMs: number, logger: ReturnType<typeof createLogger>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for running requests');
      logger.flush();
      process.exit(1);
    }
    stopping = true;
    if (graceMs > 0) {
      // Endpoints controllers and kube-proxy take a moment to stop sending traffic here: fail /readyz at once, keep
      // serving what still arrives, and only then drain.
      app.server.failReadiness();
      logger.info({ signal, graceMs }, 'not ready; still accepting requests for the grace period');
      setTimeout(() => drain(signal), graceMs);
    } else drain(signal);
  };
  const drain = (signal: NodeJS.Signals): void => {
    logger.info({ signal, activeRequests: app.server.activeRequests, drainTimeoutMs }, 'draining');
    // The drain ends by itself after drainTimeoutMs; should releasing anything afterwards hang, exit all the same.
    setTimeout(() => {
      logger.warn('shutdown did not complete after the drain timeout; exiting');
      logger.flush(() => process.exit(0));
    }, drainTimeoutMs + SHUTDOWN_GRACE_MS).unref();
    app.shutdown(drainTimeoutMs).then(
      (clean) => {
        if (clean) logger.info('drained; exiting');
        else logger.warn({ cutOff: app.server.cutOffByDrain }, 'drain timeout reached; remaining requests were cut off');
        logger.flush(() => process.exit(0));
      },
      (err: unknown) => {
        logger.error({ err }, 'error while draining');
        logger.flush(() => process.exit(0));
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // logrotate's convention (nginx: USR1): open the access log file again. Node's default for SIGHUP would end the
  // process at once, cutting every running request without a drain.
  process.on('SIGHUP', () => {
    app.reopenAccessLog().then(
      (reopened) => logger.info({ signal: 'SIGHUP' }, reopened ? 'access log file reopened' : 'SIGHUP: no access log file to reopen'),
      (err: unknown) => logger.error({ signal: 'SIGHUP', err: (err as Error).message }, 'cannot reopen the access log file; it keeps going to the previous one'),
    );
  });
}
