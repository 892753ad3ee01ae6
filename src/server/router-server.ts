// The main listener: health endpoints, GET /v1/models, POST /v1/* inference, and graceful drain.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RouterError } from '../errors/router-error.ts';
import { handleInference, sendError, type InferenceDeps, type RequestRecord } from './inference-handler.ts';
import { serveMetrics, type MetricsExposition } from './metrics-server.ts';

export interface RouterServerOptions {
  readonly maxBodyBytes: number;
  readonly keepAliveTimeoutMs?: number;
  /** Honour x-switchyard-explain (--allow-explain-header). */
  readonly allowExplainHeader?: boolean;
  /** Also serve GET /metrics on this listener (--expose-metrics-on-router-port). */
  readonly metrics?: MetricsExposition | null;
  /** Extra /readyz detail about the config source (e.g. Kubernetes API connection); readiness itself is unchanged. */
  readonly sourceStatus?: () => object;
}

export type RouterServerDeps = Omit<InferenceDeps, 'draining' | 'maxBodyBytes' | 'onRequestDone' | 'onDispatch' | 'allowExplainHeader'> & {
  readonly onDispatch?: (record: RequestRecord) => void;
  readonly onRequestDone?: (record: RequestRecord) => void;
};

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** Requests counted in activeApiRequests (Kthena's active_requests). */
function isApiPath(url: string | undefined): boolean {
  return (url ?? '/').startsWith('/v1/');
}

export class RouterServer {
  readonly server: Server;
  private readonly inference: InferenceDeps;
  private readonly metrics: MetricsExposition | null;
  private draining = false;
  /** Set by failReadiness(): /readyz fails while requests are still accepted (the shutdown grace period). */
  private shuttingDown = false;
  private active = 0;
  /** Requests in the /v1/* pipeline (Kthena's active_requests). */
  private activeApi = 0;
  private idleWaiters: (() => void)[] = [];

  private readonly sourceStatus: (() => object) | null;

  /** /readyz answers 503 from now on; everything else is served as before (see `serve --shutdown-grace`). */
  failReadiness(): void {
    this.shuttingDown = true;
  }

  constructor(deps: RouterServerDeps, options: RouterServerOptions) {
    this.inference = {
      ...deps,
      maxBodyBytes: options.maxBodyBytes,
      draining: () => this.draining,
      onDispatch: deps.onDispatch ?? (() => undefined),
      onRequestDone: deps.onRequestDone ?? (() => undefined),
      allowExplainHeader: options.allowExplainHeader ?? false,
    };
    this.metrics = options.metrics ?? null;
    this.sourceStatus = options.sourceStatus ?? null;
    this.onResponseClosed = RouterServer.closeListener(this);
    this.server = createServer({ keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000, requestTimeout: 0 }, this.onRequest);
    // A malformed request line or header is answered by Node with 400; never let it crash the process.
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  listen(port: number, host?: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get activeRequests(): number {
    return this.active;
  }

  /** Requests on /v1/* being handled now, streams included. */
  get activeApiRequests(): number {
    return this.activeApi;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.active++;
    // A response closes once: a plain listener (no once() wrapper) that stays on the spent response.
    res.on('close', this.onResponseClosed);
    try {
      this.dispatch(req, res);
    } catch (err) {
      sendError(res, new RouterError('internal_error', `internal error: ${(err as Error).message}`), null, this.draining);
    }
  };

  /** Listener of every response's 'close' (`this` is the response, as EventEmitter calls it). */
  private readonly onResponseClosed: (this: ServerResponse) => void;

  private static closeListener(server: RouterServer): (this: ServerResponse) => void {
    return function (this: ServerResponse): void {
      server.responseClosed(this);
    };
  }

  private responseClosed(res: ServerResponse): void {
    this.active--;
    if (isApiPath(res.req.url)) this.activeApi--;
    if (this.draining) {
      this.server.closeIdleConnections();
      if (this.active === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (isApiPath(url)) {
      this.activeApi++; // taken back when the response closes
      if (req.method === 'POST') return handleInference(this.inference, req, res, url);
      const queryAt = url.indexOf('?');
      const path = queryAt < 0 ? url : url.slice(0, queryAt);
      if (req.method === 'GET' && path === '/v1/models') return this.listModels(res);
      if (req.method === 'GET' && path.startsWith('/v1/models/')) return this.getModel(res, decodeURIComponent(path.slice(11)));
      return this.refuse(res, new RouterError('method_not_allowed', `${req.method ?? ''} ${path} is not supported; inference endpoints take POST`));
    }
    if (url === '/healthz') return this.json(res, 200, '{"status":"ok"}');
    if (this.metrics !== null && req.method === 'GET' && (url === '/metrics' || url.startsWith('/metrics?'))) return serveMetrics(this.metrics, res);
    if (url === '/readyz') {
      const leaving = this.draining || this.shuttingDown;
      const ready = this.inference.store.snapshot !== null && !leaving;
      const status = ready ? 'ready' : leaving ? 'draining' : 'not ready';
      const body = this.sourceStatus === null ? `{"status":"${status}"}` : JSON.stringify({ status, source: this.sourceStatus() });
      return this.json(res, ready ? 200 : 503, body);
    }
    this.refuse(res, new RouterError('not_found', `no route for ${req.method ?? ''} ${url.split('?')[0]}`));
  }

  private listModels(res: ServerResponse): void {
    const snapshot = this.inference.store.snapshot;
    if (snapshot === null) return this.refuse(res, new RouterError('not_ready', 'the router has no configuration yet'));
    this.json(res, 200, snapshot.modelsListBody);
  }

  private getModel(res: ServerResponse, id: string): void {
    const snapshot = this.inference.store.snapshot;
    if (snapshot === null) return this.refuse(res, new RouterError('not_ready', 'the router has no configuration yet'));
    if (!snapshot.routesByModel.has(id) && !snapshot.routesByLora.has(id)) {
      return this.refuse(res, new RouterError('model_not_found', `The model \`${id}\` does not exist.`));
    }
    this.json(res, 200, JSON.stringify({ id, object: 'model', created: Math.floor(snapshot.builtAt.getTime() / 1000), owned_by: 'switchyard' }));
  }

  private json(res: ServerResponse, status: number, body: string): void {
    if (this.draining) res.setHeader('connection', 'close');
    res.writeHead(status, JSON_HEADERS);
    res.end(body);
  }

  private refuse(res: ServerResponse, error: RouterError): void {
    sendError(res, error, null, this.draining);
  }

  /**
   * Stop accepting connections, let running requests (streams included) finish, close keep-alive connections as
   * they go idle. Resolves true when everything finished, false when the timeout cut requests off.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      (this.active === 0 ? Promise.resolve() : new Promise<void>((wake) => this.idleWaiters.push(wake))).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    this.server.closeAllConnections();
    await closed;
    return finished;
  }
}
