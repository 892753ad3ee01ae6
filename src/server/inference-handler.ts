// The request pipeline for POST /v1/*: read → parse → match route → resolve ModelServer → rewrite body →
// schedule → proxy. Every step that can refuse does so with a RouterError, answered in one place.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RouterError, writeErrorResponse } from '../errors/router-error.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import { buildUpstreamHeaders } from '../proxy/headers.ts';
import { editTopLevel, type BodyEdit } from '../proxy/json-body.ts';
import { runExchange, type Backend, type ExchangeOutcome, type ExchangeRequest } from '../proxy/exchange.ts';
import { PodBackend } from '../proxy/pod-backend.ts';
import { PROVIDER_RETRIES, ProviderBackend, providerHeaders, providerPath } from '../proxy/provider-backend.ts';
import type { UpstreamPools } from '../proxy/upstream-pools.ts';
import { streamUsageEdit } from '../proxy/usage-request.ts';
import { DecisionRecorder } from '../observability/explain/decision-recorder.ts';
import { explainRequested, setExplainHeader } from '../observability/explain/summary.ts';
import { endRecord, startRecord, type RequestRecord } from '../observability/request-record.ts';
import { ensureTraceContext } from '../observability/trace-context.ts';
import type { PodPicker, ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { SnapshotStore } from '../snapshot/snapshot-store.ts';
import type { CompiledProvider } from '../snapshot/types.ts';
import { pdBackend } from './pd-inference.ts';
import { readBody, type BodyResult } from './read-body.ts';
import { resolveRoute } from './resolve-route.ts';

export type { RequestRecord } from '../observability/request-record.ts';

export interface InferenceDeps {
  readonly store: SnapshotStore;
  readonly picker: PodPicker;
  readonly pools: UpstreamPools;
  readonly podStates: PodStateTable;
  readonly maxBodyBytes: number;
  /** True while draining: responses carry Connection: close. */
  readonly draining: () => boolean;
  /** The request is routed and scheduled; its upstream exchange starts now (metrics: active gauges). */
  readonly onDispatch: (record: RequestRecord) => void;
  /** Every request ends here exactly once: answered, refused, or abandoned by its client. */
  readonly onRequestDone: (record: RequestRecord) => void;
  /** Honour x-switchyard-explain (--allow-explain-header): the decision goes back in a response header. */
  readonly allowExplainHeader: boolean;
}

const MAX_REQUEST_ID_LENGTH = 200;
/** A "." or ".." path segment, also percent-encoded. */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

export function handleInference(deps: InferenceDeps, req: IncomingMessage, res: ServerResponse, path: string): void {
  const call = new InferenceCall(deps, req, res, path);
  readBody(req, deps.maxBodyBytes, call.bodyRead);
}

/**
 * One POST /v1/* request through the pipeline. It is also the request of its upstream exchange (ExchangeRequest),
 * so that a request allocates one object for its state instead of a closure per callback.
 */
class InferenceCall implements ExchangeRequest {
  private readonly deps: InferenceDeps;
  private readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  readonly requestId: string;
  private readonly record: RequestRecord;
  // ExchangeRequest, set once the request is routed and scheduled.
  body: Buffer = EMPTY_BODY;
  headers: string[] = [];
  stream = false;
  hideUsage = false;
  timeoutMs: number | undefined = undefined;
  retryAttempts = 0;
  retryIntervalMs = 0;
  readonly closeConnection: () => boolean;

  constructor(deps: InferenceDeps, req: IncomingMessage, res: ServerResponse, path: string) {
    this.deps = deps;
    this.req = req;
    this.res = res;
    this.path = path;
    this.requestId = requestIdOf(req);
    this.record = startRecord(req, this.requestId, path);
    this.closeConnection = deps.draining;
  }

  readonly bodyRead = (result: BodyResult): void => {
    if (!result.ok) {
      if (result.reason === 'too_large') {
        this.res.shouldKeepAlive = false; // the rest of the body is not read; the connection cannot be reused
        this.refuse(new RouterError('request_too_large', `request body exceeds the limit of ${this.deps.maxBodyBytes} bytes`));
      } else {
        this.deps.onRequestDone(endRecord(this.record, 0, null, null)); // the client went away while sending the body
      }
      return;
    }
    try {
      this.proxy(result.body);
    } catch (err) {
      if (err instanceof RouterError) this.refuse(err);
      else this.refuse(new RouterError('internal_error', `internal error: ${(err as Error).message}`));
    }
  };

  readonly refuse = (error: RouterError, model: string | null = this.record.model): void => {
    sendError(this.res, error, this.requestId, this.deps.draining());
    this.record.model = model;
    this.deps.onRequestDone(endRecord(this.record, error.status, error, null));
  };

  private proxy(body: Buffer): void {
    const { deps, req, res, path, record, requestId } = this;
    const queryAt = path.indexOf('?');
    const pathOnly = queryAt < 0 ? path : path.slice(0, queryAt);
    // Forwarded as is, "/v1/../x" would reach pod endpoints outside /v1 on engines that resolve dot segments.
    if (DOT_SEGMENT.test(pathOnly)) return this.refuse(new RouterError('not_found', `no route for POST ${pathOnly}`));
    const parsed = parseRequestBody(body);
    const model = parsed.model as string;
    record.model = model;
    record.body = parsed;
    const snapshot = deps.store.snapshot;
    if (snapshot === null) return this.refuse(new RouterError('not_ready', 'the router has no configuration yet'), model);

    const facts = { model, path: pathOnly, rawHeaders: req.rawHeaders };
    const explain = deps.allowExplainHeader ? explainRequested(req.rawHeaders) : null;
    const trace = explain === null ? null : new DecisionRecorder(false, facts);
    const routed = resolveRoute(snapshot, facts, trace);
    if (!routed.ok) {
      setExplainHeader(res, trace, explain, routed.error);
      return this.refuse(routed.error, model);
    }
    const { route, rule, server, provider, isLora, upstreamModel } = routed;
    record.route = route;
    record.rule = rule;
    record.server = server;
    record.provider = provider;
    record.upstreamModel = upstreamModel;
    let edits: BodyEdit[] | null = null;
    if (upstreamModel !== model) edits = [{ key: 'model', value: upstreamModel }];
    const stream = parsed.stream === true;
    // Streams: learn token usage; an usage-only event the router asked for is hidden from this client.
    const usageEdit = stream ? streamUsageEdit(pathOnly, body, parsed.stream_options) : null;
    const hideUsage = usageEdit !== null;
    if (usageEdit !== null) (edits ??= []).push(usageEdit);
    const upstreamBody = edits === null ? body : editTopLevel(body, edits);
    this.body = upstreamBody;
    this.stream = stream;
    this.hideUsage = hideUsage;
    if (provider !== null) return this.toProvider(provider, upstreamBody, stream);

    const headers = buildUpstreamHeaders(req.rawHeaders, {
      requestId,
      remoteAddress: req.socket.remoteAddress,
      encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
      identityEncoding: stream,
    });
    this.headers = headers;
    this.timeoutMs = server.timeoutMs;
    this.retryAttempts = server.retryAttempts;
    this.retryIntervalMs = server.retryIntervalMs;

    if (server.pd !== null) {
      // PD-disaggregated: a prefill pod and a decode pod of one group serve the request (pd-inference.ts).
      const pd = pdBackend(deps, { req, model, upstreamModel, isLora, server, body, parsed, upstreamBody }, this.refuse);
      if (pd === null) return;
      record.scheduled = pd.firstPair;
      return this.dispatch(pd.backend);
    }

    const scheduleRequest: ScheduleRequest = { model, upstreamModel, isLora, server, rawHeaders: req.rawHeaders, body: parsed };
    const pods = deps.picker.schedule(scheduleRequest, server.pods, trace);
    if (pods.length === 0) {
      const error = new RouterError('pods_overloaded', `every pod of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`);
      setExplainHeader(res, trace, explain, error);
      return this.refuse(error, model);
    }
    if (explain !== null) setExplainHeader(res, trace, explain, null);
    record.scheduled = pods;
    this.dispatch(new PodBackend(pods, deps.pools, deps.podStates, deps.picker, scheduleRequest));
  }

  /** An ExternalModelProvider serves the request: no scheduling, its own path, headers and timeout. */
  private toProvider(provider: CompiledProvider, body: Buffer, stream: boolean): void {
    const path = providerPath(provider, this.path);
    if (path instanceof RouterError) return this.refuse(path);
    this.headers = providerHeaders(provider, this.req.rawHeaders, { requestId: this.requestId, identityEncoding: stream });
    this.timeoutMs = provider.timeoutMs;
    this.retryAttempts = PROVIDER_RETRIES;
    this.retryIntervalMs = 0;
    const request = { path, headers: this.headers, body, timeoutMs: provider.timeoutMs };
    this.dispatch(new ProviderBackend(provider, request, this.deps.pools, this.deps.podStates));
  }

  /** The request is routed and scheduled: the exchange with its backend starts. */
  private dispatch(backend: Backend): void {
    const record = this.record;
    record.traceId = ensureTraceContext(this.headers);
    record.scheduledAt = performance.now();
    this.deps.onDispatch(record);
    runExchange(this, backend);
  }

  /** ExchangeRequest: the exchange ended. */
  onDone(outcome: ExchangeOutcome): void {
    if (outcome.prefillPhase != null) this.record.prefill = outcome.prefillPhase;
    if (outcome.decodePhase != null) this.record.decode = outcome.decodePhase;
    this.deps.onRequestDone(endRecord(this.record, outcome.status, outcome.error, outcome));
  }
}

const EMPTY_BODY = Buffer.alloc(0);

export interface ParsedBody {
  [key: string]: unknown;
  model: unknown;
  stream?: unknown;
  stream_options?: unknown;
}

/** The body as JSON with a non-empty string `model`, or the RouterError refusing it (also used by /debug/explain). */
export function parseRequestBody(body: Buffer): ParsedBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RouterError('invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new RouterError('invalid_body', 'request body must be a JSON object');
  const model = parsed.model;
  if (typeof model !== 'string' || model.trim() === '') {
    throw new RouterError('model_required', 'request body must have a non-empty string field `model`');
  }
  return parsed as ParsedBody;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && given.length > 0 && given.length <= MAX_REQUEST_ID_LENGTH) return given;
  return newRequestId();
}

/**
 * Request ids shaped like UUIDs: a random UUID's first 20 hex digits (fixed per process, drawn again every 2^32 ids)
 * and a counter in the last 12. Unique without drawing random bytes per request (randomUUID costs ~0.5 µs).
 */
let idPrefix = '';
let idCounter = 0x1_0000_0000;
function newRequestId(): string {
  if (idCounter >= 0x1_0000_0000) {
    idPrefix = randomUUID().slice(0, 24);
    idCounter = 0;
  }
  const hex = (idCounter++).toString(16);
  return `${idPrefix}${ID_ZEROS.slice(hex.length)}${hex}`;
}
const ID_ZEROS = '000000000000';

export function sendError(res: ServerResponse, error: RouterError, requestId: string | null, close: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Errors answered outside the inference pipeline (unknown path, wrong method) pass no id: every router error carries one.
  writeErrorResponse(res, error, requestId ?? requestIdOf(res.req), close);
}
