// The main listener: health endpoints, GET /v1/models, POST /v1/* inference, listener bounds and graceful drain.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { RouterError } from '../errors/router-error.ts';
import { endRecord, startRecord } from '../observability/request-record.ts';
import { createPathPolicy, type PathPolicy } from '../routing/path-policy.ts';
import { STORED_RESPONSES_PREFIX, storedResponseMethodAllowed, storedResponseMethods, storedResponseTarget } from '../routing/stored-response-path.ts';
import { handleClientError, type ClientErrorContext } from './client-errors.ts';
import { ConnectionGuard, connectionCap, fileDescriptorLimit } from './connection-guard.ts';
import { DrainCutter } from './drain-cutter.ts';
import type { AuthResult } from '../pipeline/filters.ts';
import { handleInference, requestIdOf, sendError, type InferenceDeps, type RequestRecord } from './inference-handler.ts';
import { checkingIntervalMs, DEFAULT_LISTENER_LIMITS, type ListenerLimits } from './listener-limits.ts';
import { serveMetrics, type MetricsExposition } from './metrics-server.ts';

export interface RouterServerOptions {
  readonly maxBodyBytes: number;
  /** Timeouts, sizes and the connection cap; unset fields take DEFAULT_LISTENER_LIMITS. */
  readonly limits?: Partial<ListenerLimits>;
  /** The POST paths forwarded to engines (default: the inference API, path-policy.ts). */
  readonly pathPolicy?: PathPolicy;
  /** Honour x-switchyard-explain (--allow-explain-header). */
  readonly allowExplainHeader?: boolean;
  /** Also serve GET /metrics on this listener (--expose-metrics-on-router-port). */
  readonly metrics?: MetricsExposition | null;
  /** Log lines of the listener (refused connections and malformed requests); none when absent. */
  readonly log?: Logger;
  /** Serve HTTPS with this certificate chain and key (PEM; --tls-cert, --tls-key); replaced by setTlsCredentials. */
  readonly tls?: TlsCredentials | null;
  /** Extra /readyz detail about the config source (e.g. Kubernetes API connection); readiness itself is unchanged. */
  readonly sourceStatus?: () => object;
}

export interface TlsCredentials {
  readonly cert: string;
  readonly key: string;
}

export type RouterServerDeps = Omit<InferenceDeps, 'draining' | 'maxBodyBytes' | 'onRequestDone' | 'onDispatch' | 'allowExplainHeader'> & {
  readonly onDispatch?: (record: RequestRecord) => void;
  readonly onRequestDone?: (record: RequestRecord) => void;
};

const JSON_HEADERS = { 'content-type': 'application/json' } as const;
/** After the drain timeout cut what was left, the cut requests get this long to report before the listener closes. */
const CUT_REPORT_MS = 2000;

/** Requests counted in activeApiRequests (Kthena's active_requests). */
function isApiPath(url: string | undefined): boolean {
  return (url ?? '/').startsWith('/v1/');
}

export class RouterServer {
  readonly server: Server;
  readonly limits: ListenerLimits;
  readonly guard: ConnectionGuard;
  private readonly inference: InferenceDeps;
  private readonly metrics: MetricsExposition | null;
  private readonly pathPolicy: PathPolicy;
  private readonly log: Logger | null;
  private readonly cutter: DrainCutter;
  private draining = false;
  /**
   * Responses not closed yet (streams included). A count, not a Set of the responses: adding each young response to
   * a long-lived Set made V8 promote every in-flight request's objects to the old generation (bench: 1.4 MB per
   * scavenge, 3x GC time, +70 MB RSS). The drain finds the open responses through the connection guard instead.
   */
  private openResponses = 0;
  /** Set by failReadiness(): /readyz fails while requests are still accepted (the shutdown grace period). */
  private shuttingDown = false;
  /** Requests in the /v1/* pipeline (Kthena's active_requests). */
  private activeApi = 0;
  private idleWaiters: (() => void)[] = [];

  private readonly sourceStatus: (() => object) | null;

  /** /readyz answers 503 from now on; everything else is served as before (see `serve --shutdown-grace`). */
  failReadiness(): void {
    this.shuttingDown = true;
  }

  constructor(deps: RouterServerDeps, options: RouterServerOptions) {
    const reportDone = deps.onRequestDone ?? (() => undefined);
    this.cutter = new DrainCutter(reportDone);
    this.inference = {
      ...deps,
      maxBodyBytes: options.maxBodyBytes,
      draining: () => this.draining,
      onDispatch: deps.onDispatch ?? (() => undefined),
      onRequestDone: this.cutter.onRequestDone,
      allowExplainHeader: options.allowExplainHeader ?? false,
    };
    this.metrics = options.metrics ?? null;
    this.pathPolicy = options.pathPolicy ?? createPathPolicy();
    this.log = options.log ?? null;
    const limits = (this.limits = { ...DEFAULT_LISTENER_LIMITS, ...options.limits });
    this.sourceStatus = options.sourceStatus ?? null;
    this.onResponseClosed = RouterServer.closeListener(this);
    const serverOptions = {
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      // Node's deadline for the whole request (headers and body) from its first byte.
      requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs,
      connectionsCheckingInterval: checkingIntervalMs(limits),
      maxHeaderSize: limits.maxHeaderBytes,
      // Node would answer a missing Host with an empty 400 of its own, unlogged: dispatch() answers it instead.
      requireHostHeader: false,
    };
    this.server = options.tls == null
      ? createServer(serverOptions, this.onRequest)
      // The TLS handshake counts as part of the headers' time (Node's own default lets a silent client hold 120 s).
      : createHttpsServer({ ...serverOptions, handshakeTimeout: limits.headersTimeoutMs, cert: options.tls.cert, key: options.tls.key }, this.onRequest);
    // Without this listener Node answers `Expect: 100-continue` with 100 Continue before anyone looks at the request.
    this.server.on('checkContinue', this.onCheckContinue);
    // Likewise an `Expect` other than 100-continue (Node: an empty 417), and CONNECT (Node: the socket closed unanswered).
    this.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      this.refuseLogged(req, res, new RouterError('expectation_failed', `Expect: ${String(req.headers.expect).slice(0, 100)} is not supported`));
    });
    this.server.on('connect', (req: IncomingMessage, socket: Duplex) => this.refuseConnect(req, socket));
    const fdLimit = fileDescriptorLimit();
    this.guard = new ConnectionGuard(this.server, connectionCap(limits.maxConnections, fdLimit), (closed, open) => {
      this.log?.warn({ closed, open, cap: this.guard.cap }, 'connection cap reached: closed the connections idle or sending their request for longest');
    });
    this.server.on('clientError', (err: Error, socket: Duplex) => handleClientError(this.clientErrors, err, socket));
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

  /** New certificate and key for connections from now on (throws when they do not fit together). */
  setTlsCredentials(tls: TlsCredentials): void {
    if (!('setSecureContext' in this.server)) throw new Error('the router listens without TLS');
    (this.server as HttpsServer).setSecureContext({ cert: tls.cert, key: tls.key });
  }

  get activeRequests(): number {
    return this.openResponses;
  }

  /** Requests still running when the drain timeout expired (and were cut off); 0 before that. */
  get cutOffByDrain(): number {
    return this.cutOff;
  }

  private cutOff = 0;

  /** Requests on /v1/* being handled now, streams included. */
  get activeApiRequests(): number {
    return this.activeApi;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.openResponses++;
    this.guard.requestStarted(req, res);
    // A response closes once: a plain listener (no once() wrapper) that stays on the spent response.
    res.on('close', this.onResponseClosed);
    try {
      this.dispatch(req, res);
    } catch (err) {
      sendError(res, new RouterError('internal_error', `internal error: ${(err as Error).message}`), null, this.draining);
    }
  };

  /** `Expect: 100-continue`: a body already known to be too large is refused without inviting it. */
  private readonly onCheckContinue = (req: IncomingMessage, res: ServerResponse): void => {
    const declared = Number(req.headers['content-length']);
    if (declared > this.inference.maxBodyBytes) res.shouldKeepAlive = false; // the client waits; nothing to discard
    else res.writeContinue();
    this.onRequest(req, res);
  };

  /** Listener of every response's 'close' (`this` is the response, as EventEmitter calls it). */
  private readonly onResponseClosed: (this: ServerResponse) => void;

  private static closeListener(server: RouterServer): (this: ServerResponse) => void {
    return function (this: ServerResponse): void {
      server.responseClosed(this);
    };
  }

  private responseClosed(res: ServerResponse): void {
    this.openResponses--;
    this.guard.responseClosed(res);
    if (isApiPath(res.req.url)) this.activeApi--;
    if (this.draining) {
      this.server.closeIdleConnections();
      if (this.openResponses === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    // RFC 9112 §3.2.2: a server accepts the absolute form (`POST http://host/v1/… HTTP/1.1`); served as its path.
    if (req.url !== undefined && req.url.charCodeAt(0) !== 0x2f && ABSOLUTE_FORM.test(req.url)) req.url = originFormOf(req.url);
    const url = req.url ?? '/';
    const api = isApiPath(url);
    if (api) this.activeApi++; // taken back when the response closes
    if (url.length > this.limits.maxUrlBytes) return this.refuseLogged(req, res, new RouterError('uri_too_long', `the request URL is longer than ${this.limits.maxUrlBytes} bytes`));
    if (!hasOneHost(req)) return this.refuseLogged(req, res, new RouterError('bad_request', 'an HTTP/1.1 request must have exactly one Host header (RFC 9112 §3.2)'));
    if (api) {
      const queryAt = url.indexOf('?');
      const path = queryAt < 0 ? url : url.slice(0, queryAt);
      const stored = path.startsWith(STORED_RESPONSES_PREFIX) ? storedResponseTarget(path) : null;
      if (stored !== null) {
        if (!storedResponseMethodAllowed(stored.action, req.method)) {
          const allow = storedResponseMethods(stored.action);
          return this.refuse(res, new RouterError('method_not_allowed', `${req.method ?? ''} ${path} is not supported; it takes ${allow}`, ['allow', allow]));
        }
        if (this.draining) return this.refuseDraining(req, res, path);
        return handleInference(this.inference, req, res, url, stored);
      }
      // Under /v1/responses/ only a stored response's endpoints exist (a trailing slash, an unknown action).
      if (req.method !== 'POST' && path.startsWith(STORED_RESPONSES_PREFIX)) return this.refuse(res, new RouterError('not_found', `no route for ${req.method ?? ''} ${path}`));
      if (req.method === 'POST') {
        if (!this.pathPolicy.allows(path)) {
          if (path.includes('%') && !decodes(path)) return this.refuseLogged(req, res, new RouterError('bad_request', 'the request path is not valid percent-encoded UTF-8'));
          return this.refuse(res, new RouterError('not_found', `no route for POST ${path}`));
        }
        if (this.draining) return this.refuseDraining(req, res, path);
        return handleInference(this.inference, req, res, url);
      }
      // HEAD is GET without the body (Node leaves the body out).
      const read = req.method === 'GET' || req.method === 'HEAD';
      if (read && path === '/v1/models') return this.asCaller(req, res, () => this.listModels(res));
      if (read && path.startsWith('/v1/models/')) return this.asCaller(req, res, () => this.getModel(req, res, path.slice(11)));
      const models = path === '/v1/models' || path.startsWith('/v1/models/');
      const allow = models ? 'GET, HEAD' : 'POST';
      return this.refuse(res, new RouterError('method_not_allowed', `${req.method ?? ''} ${path} is not supported; ${models ? 'it takes GET' : 'inference endpoints take POST'}`, ['allow', allow]));
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

  /** The model list is part of the API: with authentication on, it takes the same credential as inference. */
  private asCaller(req: IncomingMessage, res: ServerResponse, answer: () => void): void {
    const authenticator = this.inference.authenticator;
    if (authenticator == null) return answer();
    const abort = new AbortController(); // a JWKS fetch stops with the client
    res.once('close', () => abort.abort());
    const settle = (result: AuthResult): void => {
      if (res.writableEnded || res.destroyed) return;
      if (!(result instanceof RouterError)) return answer();
      if (result.code === 'unauthorized') res.setHeader('www-authenticate', 'Bearer realm="switchyard"');
      this.refuse(res, result);
    };
    const result = authenticator.authenticate(req.rawHeaders, abort.signal);
    if (result instanceof Promise) {
      result.then(settle, (err: unknown) => this.refuse(res, new RouterError('internal_error', `authentication failed: ${(err as Error).message}`)));
    } else {
      settle(result);
    }
  }

  private listModels(res: ServerResponse): void {
    const snapshot = this.inference.store.snapshot;
    if (snapshot === null) return this.refuse(res, new RouterError('not_ready', 'the router has no configuration yet'));
    res.setHeader('x-request-id', requestIdOf(res.req));
    this.json(res, 200, snapshot.modelsListBody);
  }

  private getModel(req: IncomingMessage, res: ServerResponse, encodedId: string): void {
    let id: string;
    try {
      id = decodeURIComponent(encodedId);
    } catch {
      return this.refuseLogged(req, res, new RouterError('bad_request', 'the model id in the URL is not valid percent-encoded UTF-8'));
    }
    const snapshot = this.inference.store.snapshot;
    if (snapshot === null) return this.refuse(res, new RouterError('not_ready', 'the router has no configuration yet'));
    if (!snapshot.routesByModel.has(id) && !snapshot.routesByLora.has(id)) {
      return this.refuse(res, new RouterError('model_not_found', `The model \`${id}\` does not exist.`));
    }
    res.setHeader('x-request-id', requestIdOf(req));
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

  /** A new inference request while draining: refused, and in the access log and metrics as every refused request is. */
  private refuseDraining(req: IncomingMessage, res: ServerResponse, path: string): void {
    const error = new RouterError('draining', 'the router is shutting down; retry on another replica');
    const requestId = requestIdOf(req);
    const record = startRecord(req, requestId, path);
    res.setHeader('retry-after', '1');
    sendError(res, error, requestId, true);
    this.inference.onRequestDone(endRecord(record, error.status, error, null));
  }

  /** CONNECT (a client taking the router for a forward proxy): a 405 on the raw socket, logged, then closed. */
  private refuseConnect(req: IncomingMessage, socket: Duplex): void {
    const error = new RouterError('method_not_allowed', 'CONNECT is not supported: this is an inference router, not a forward proxy', ['allow', 'GET, HEAD, POST']);
    this.log?.info({ status: error.status, code: error.code, method: req.method, target: (req.url ?? '').slice(0, 256), remoteAddress: req.socket.remoteAddress }, error.message);
    const body = error.toBody();
    const requestId = `listener-${Date.now().toString(36)}`;
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\nallow: GET, HEAD, POST\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  /** A malformed request the listener refuses: answered, logged, and in the access log. */
  private refuseLogged(req: IncomingMessage, res: ServerResponse, error: RouterError): void {
    const path = (req.url ?? '/').slice(0, 256);
    this.log?.info({ status: error.status, code: error.code, method: req.method, path, remoteAddress: req.socket.remoteAddress }, error.message);
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : `listener-${Date.now().toString(36)}`;
    const record = startRecord(req, requestId, path);
    sendError(res, error, requestId, this.draining);
    this.inference.onRequestDone(endRecord(record, error.status, error, null));
  }

  private readonly clientErrors: ClientErrorContext = {
    current: (socket) => this.guard.current(socket),
    maxUrlBytes: () => this.limits.maxUrlBytes,
    answer: (res, error) => {
      res.shouldKeepAlive = false;
      sendError(res, error, null, true);
    },
    refusedRaw: (error, requestLine, cause) => {
      const [method = '-', path = '-'] = (requestLine ?? '').split(' ');
      this.log?.info({ status: error.status, code: error.code, cause, method, path: path.slice(0, 256) }, error.message);
      this.inference.onRequestDone(rawRecord(method, path.slice(0, 256), error));
    },
    note: (message, cause) => this.log?.info({ cause }, message),
  };

  /**
   * Readiness goes to 503 and new inference requests get 503 `draining` (Retry-After) while running requests (streams
   * included) finish; keep-alive connections close as they go idle. When the timeout expires, open streams end with
   * one SSE error event, other requests are cut, and every one of them is reported (access log) before this
   * resolves. Resolves true when everything finished in time.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.whenIdle().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.cutOff = this.openResponses;
      this.cutter.cut(this.guard.responsesInFlight());
      await Promise.race([this.whenIdle(), new Promise((resolve) => setTimeout(resolve, CUT_REPORT_MS).unref())]);
    }
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    return finished;
  }

  private whenIdle(): Promise<void> {
    return this.openResponses === 0 ? Promise.resolve() : new Promise<void>((wake) => this.idleWaiters.push(wake));
  }
}

/** The access-log record of a request refused before Node parsed it into a request. */
function rawRecord(method: string, path: string, error: RouterError): RequestRecord {
  const now = performance.now();
  return {
    requestId: '-', method, path, protocol: 'HTTP/1.1', startedAt: Date.now(), receivedAt: now, scheduledAt: 0, endedAt: now,
    model: null, body: null, route: null, rule: null, server: null, upstreamModel: null, scheduled: null, traceId: null,
    status: error.status, error, outcome: null, dispatchedTo: null,
  };
}

/** RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host header (HTTP/1.0 may have none). */
function hasOneHost(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 4 && (name === 'host' || name === 'Host' || name.toLowerCase() === 'host')) hosts++;
  }
  return hosts === 1 || (hosts === 0 && req.httpVersionMinor === 0 && req.httpVersionMajor === 1);
}

const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;

/** `http://host:port/v1/x?y` → `/v1/x?y` (`/` when it has no path). */
function originFormOf(url: string): string {
  const rest = url.slice(ABSOLUTE_FORM.exec(url)![0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

function decodes(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}
