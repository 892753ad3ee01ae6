// GET /metrics in the Prometheus text format: on its own listener (--metrics-port, default 9090, all interfaces like
// Kthena's :9090) and, with --expose-metrics-on-router-port, on the router's listener too.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MetricsExposition {
  exposition(): Promise<{ contentType: string; body: string }>;
}

export function serveMetrics(metrics: MetricsExposition, res: ServerResponse): void {
  metrics.exposition().then(
    ({ contentType, body }) => {
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
    (err: unknown) => {
      const body = `metrics collection failed: ${(err as Error).message}\n`;
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
  );
}

export class MetricsServer {
  readonly server: Server;

  constructor(metrics: MetricsExposition) {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '/';
      // HEAD as GET (Node sends no body): uptime checks and load balancers probe with it.
      if ((req.method === 'GET' || req.method === 'HEAD') && (url === '/metrics' || url.startsWith('/metrics?'))) return serveMetrics(metrics, res);
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found: metrics are at GET /metrics\n');
    });
  }

  listen(port: number, host?: string): Promise<AddressInfo> {
    return listen(this.server, port, host);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

export function listen(server: Server, port: number, host?: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
