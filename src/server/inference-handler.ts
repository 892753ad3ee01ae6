// The request pipeline for POST /v1/*: read → parse → match route → resolve ModelServer → rewrite body →
// schedule → proxy. Every step that can refuse does so with a RouterError, answered in one place.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RouterError, writeErrorResponse } from '../errors/router-error.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import { buildUpstreamHeaders } from '../proxy/headers.ts';
import { editTopLevel, scanTopLevelMembers, type BodyEdit } from '../proxy/json-body.ts';
import type { PdOutcome } from '../proxy/pd-exchange.ts';
import { ProxyExchange, type ExchangeOptions, type ExchangeOutcome } from '../proxy/proxy-exchange.ts';
import type { UpstreamPools } from '../proxy/upstream-pools.ts';
import { DecisionRecorder } from '../observability/explain/decision-recorder.ts';
import { explainRequested, setExplainHeader } from '../observability/explain/summary.ts';
import { endRecord, startRecord, type RequestRecord } from '../observability/request-record.ts';
import { ensureTraceContext } from '../observability/trace-context.ts';
import type { PodPicker, ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { SnapshotStore } from '../snapshot/snapshot-store.ts';
import type { PodEndpoint } from '../snapshot/types.ts';
import { proxyPdInference } from './pd-inference.ts';
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
 * One POST /v1/* request through the pipeline. It is also the options of its upstream exchange (ExchangeOptions),
 * so that a request allocates one object for its state instead of a closure per callback.
 */
class InferenceCall implements ExchangeOptions {
  private readonly deps: InferenceDeps;
  private readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  readonly requestId: string;
  private readonly record: RequestRecord;
  // ExchangeOptions, set once the request is routed and scheduled.
  body: Buffer = EMPTY_BODY;
  headers: string[] = [];
  stream = false;
  hideUsage = false;
  pods: readonly PodEndpoint[] = [];
  timeoutMs: number | undefined = undefined;
  retryAttempts = 0;
  retryIntervalMs = 0;
  readonly closeConnection: () => boolean;
  private scheduleRequest: ScheduleRequest | null = null;

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
    const { deps, req, res, path, record } = this;
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
    const { route, rule, server, isLora, upstreamModel } = routed;
    record.route = route;
    record.rule = rule;
    record.server = server;
    record.upstreamModel = upstreamModel;
    let edits: BodyEdit[] | null = null;
    if (upstreamModel !== model) edits = [{ key: 'model', value: upstreamModel }];
    const stream = parsed.stream === true;
    let hideUsage = false;
    if (stream) {
      const options = parsed.stream_options;
      const asked = isObject(options) && options.include_usage === true;
      if (!asked) {
        // Learn token usage from the stream; the extra usage-only event is hidden from this client.
        (edits ??= []).push(includeUsageEdit(body, options));
        hideUsage = true;
      }
    }
    const upstreamBody = edits === null ? body : editTopLevel(body, edits);

    const scheduleRequest: ScheduleRequest = { model, upstreamModel, isLora, server, rawHeaders: req.rawHeaders, body: parsed };
    // Scheduling may first wait for plugin work (kvcache-aware tokenizing the prompt); the fast path does not.
    const preparing = deps.picker.prepare?.(scheduleRequest, server.pods) ?? null;
    if (preparing !== null) {
      preparing
        .then(() => {
          if (res.destroyed || res.writableEnded) return void deps.onRequestDone(endRecord(record, 0, null, null));
          this.dispatch(scheduleRequest, body, upstreamBody, stream, hideUsage, trace, explain);
        })
        .catch((err: unknown) => this.refuse(err instanceof RouterError ? err : new RouterError('internal_error', `internal error: ${(err as Error).message}`)));
      return;
    }
    this.dispatch(scheduleRequest, body, upstreamBody, stream, hideUsage, trace, explain);
  }

  private dispatch(
    scheduleRequest: ScheduleRequest,
    body: Buffer,
    upstreamBody: Buffer,
    stream: boolean,
    hideUsage: boolean,
    trace: DecisionRecorder | null,
    explain: ReturnType<typeof explainRequested>,
  ): void {
    const { deps, req, res, record, requestId, path } = this;
    const { model, server, upstreamModel, isLora } = scheduleRequest;
    if (server.pd !== null) {
      // PD-disaggregated: a prefill pod and a decode pod of one group serve the request (pd-inference.ts).
      const dispatched = (): void => {
        record.scheduledAt = performance.now();
        deps.onDispatch(record);
      };
      const done = (outcome: PdOutcome): void => {
        if (outcome.prefillPhase !== null) record.prefill = outcome.prefillPhase;
        if (outcome.decodePhase !== null) record.decode = outcome.decodePhase;
        deps.onRequestDone(endRecord(record, outcome.status, outcome.error, outcome));
      };
      const parsed = scheduleRequest.body ?? {};
      return proxyPdInference(deps, { req, res, path, requestId, model, upstreamModel, isLora, server, body, parsed, upstreamBody, stream, hideUsage, onDispatch: dispatched, onDone: done }, this.refuse);
    }
    const pods = deps.picker.schedule(scheduleRequest, server.pods, trace);
    if (pods.length === 0) {
      const error = new RouterError('pods_overloaded', `every pod of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`);
      setExplainHeader(res, trace, explain, error);
      return this.refuse(error, model);
    }
    if (explain !== null) setExplainHeader(res, trace, explain, null);

    const headers = buildUpstreamHeaders(req.rawHeaders, {
      requestId,
      remoteAddress: req.socket.remoteAddress,
      encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
    });
    record.traceId = ensureTraceContext(headers);
    record.scheduled = pods;
    record.scheduledAt = performance.now();
    deps.onDispatch(record);
    this.scheduleRequest = scheduleRequest;
    this.body = upstreamBody;
    this.headers = headers;
    this.stream = stream;
    this.hideUsage = hideUsage;
    this.pods = pods;
    this.timeoutMs = server.timeoutMs;
    this.retryAttempts = server.retryAttempts;
    this.retryIntervalMs = server.retryIntervalMs;
    new ProxyExchange(this, deps.pools, deps.podStates).start();
  }

  /** ExchangeOptions: the exchange ended. */
  onDone(outcome: ExchangeOutcome): void {
    // Post-schedule hook (e.g. prefix-cache learns which pod now holds this prompt).
    if (outcome.error === null && outcome.pod !== null && outcome.status >= 200 && outcome.status < 300 && this.scheduleRequest !== null) {
      this.deps.picker.served?.(this.scheduleRequest, outcome.pod);
    }
    this.deps.onRequestDone(endRecord(this.record, outcome.status, outcome.error, outcome));
  }
}

const EMPTY_BODY = Buffer.alloc(0);

/**
 * Sets stream_options.include_usage, keeping the client's other options. Their bytes are spliced, not re-serialised:
 * JSON.stringify overflows the stack on deeply nested values that JSON.parse accepted.
 */
function includeUsageEdit(body: Buffer, options: unknown): BodyEdit {
  const member = isObject(options) ? scanTopLevelMembers(body)?.members.findLast((m) => m.key === 'stream_options') : undefined;
  if (member === undefined) return { key: 'stream_options', value: { include_usage: true } };
  const current = body.subarray(member.valueStart, member.valueEnd);
  return { key: 'stream_options', json: editTopLevel(current, [{ key: 'include_usage', value: true }]).toString('utf8') };
}

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
