// The router process of `npm run bench:scale`'s streaming phase: the real router (startRouterApp, what
// `switchyard serve` runs) in a child process started with --expose-gc, so the parent can ask over IPC for its
// memory after a full garbage collection. Messages: parent → {type: 'measure'} | {type: 'exit'};
// child → {type: 'ready', url} | {type: 'memory', …} | {type: 'error', message}.
import { readFileSync } from 'node:fs';
import { startRouterApp } from '../../src/cli/router-app.ts';
import { createLogger } from '../../src/observability/logger.ts';

export interface RouterMemory {
  readonly type: 'memory';
  readonly rss: number;
  /** VmRSS from /proc/self/status (Linux), bytes; null elsewhere. */
  readonly vmRss: number | null;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly activeRequests: number;
}

export type ParentMessage = { readonly type: 'measure' } | { readonly type: 'exit' };
export type ChildMessage = { readonly type: 'ready'; readonly url: string } | RouterMemory | { readonly type: 'error'; readonly message: string };

function send(message: ChildMessage): void {
  process.send?.(message);
}

function vmRss(): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

const configDir = process.argv[2];
const routerConfigFile = process.argv[3];
if (configDir === undefined || process.send === undefined) {
  process.stderr.write('usage: node --expose-gc stream-router.ts CONFIG_DIR [ROUTER_CONFIG] (as a child process with an IPC channel)\n');
  process.exit(2);
}

try {
  const app = await startRouterApp({
    configPaths: [configDir],
    port: 0,
    host: '127.0.0.1',
    maxBodyBytes: 16 * 1024 * 1024,
    reloadDebounceMs: 200,
    healthCheckIntervalMs: 5000,
    metricsScrapeIntervalMs: 1000,
    routerConfigFile,
    metricsPort: null,
    debugPort: null,
    accessLog: null,
    logger: createLogger('warn'),
  });
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'measure') {
      globalThis.gc?.();
      globalThis.gc?.();
      const usage = process.memoryUsage();
      send({
        type: 'memory',
        rss: usage.rss,
        vmRss: vmRss(),
        heapUsed: usage.heapUsed,
        heapTotal: usage.heapTotal,
        external: usage.external,
        arrayBuffers: usage.arrayBuffers,
        activeRequests: app.server.activeApiRequests,
      });
    } else if (message.type === 'exit') {
      void app.shutdown(1000).finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => void app.shutdown(0).finally(() => process.exit(0)));
  send({ type: 'ready', url: app.url });
} catch (err) {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
  process.exit(1);
}
