// The request pipeline for POST /v1/*: read → parse → match route → resolve ModelServer → rewrite body →
// schedule → proxy. Every step that can refuse does so with a RouterError, answered in one place.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RouterError } from '../errors/router-error.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import { buildUpstreamHeaders } from '../proxy/headers.ts';
import { editTopLevel, scanTopLevelMembers, type BodyEdit } from '../proxy/json-body.ts';
import type { PdOutcome } from '../proxy/pd-exchange.ts';
import { ProxyExchange } from '../proxy/proxy-exchange.ts';
import type { UpstreamPools } from '../proxy/upstream-pools.ts';
import { DecisionRecorder } from '../observability/explain/decision-recorder.ts';
import { explainRequested, setExplainHeader } from '../observability/explain/summary.ts';
import { endRecord, startRecord, type RequestRecord } from '../observability/request-record.ts';
import { ensureTraceContext } from '../observability/trace-context.ts';
import type { PodPicker, ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { SnapshotStore } from '../snapshot/snapshot-store.ts';
import { proxyPdInference } from './pd-inference.ts';
import { readBody } from './read-body.ts';
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
  const requestId = requestIdOf(req);
  const record = startRecord(req, requestId, path);
  const refuse = (error: RouterError, model: string | null = record.model): void => {
    sendError(res, error, requestId, deps.draining());
    record.model = model;
    deps.onRequestDone(endRecord(record, error.status, error, null));
  };
  readBody(req, deps.maxBodyBytes, (result) => {
    if (!result.ok) {
      if (result.reason === 'too_large') {
        res.shouldKeepAlive = false; // the rest of the body is not read; the connection cannot be reused
        refuse(new RouterError('request_too_large', `request body exceeds the limit of ${deps.maxBodyBytes} bytes`));
      } else {
        deps.onRequestDone(endRecord(record, 0, null, null)); // the client went away while sending the body
      }
      return;
    }
    try {
      proxyInference(deps, req, res, path, result.body, record, refuse);
    } catch (err) {
      if (err instanceof RouterError) refuse(err);
      else refuse(new RouterError('internal_error', `internal error: ${(err as Error).message}`));
    }
  });
}

function proxyInference(
  deps: InferenceDeps,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  body: Buffer,
  record: RequestRecord,
  refuse: (error: RouterError, model?: string | null) => void,
): void {
  const requestId = record.requestId;
  const queryAt = path.indexOf('?');
  const pathOnly = queryAt < 0 ? path : path.slice(0, queryAt);
  // Forwarded as is, "/v1/../x" would reach pod endpoints outside /v1 on engines that resolve dot segments.
  if (DOT_SEGMENT.test(pathOnly)) return refuse(new RouterError('not_found', `no route for POST ${pathOnly}`));
  const parsed = parseRequestBody(body);
  const model = parsed.model as string;
  record.model = model;
  record.body = parsed;
  const snapshot = deps.store.snapshot;
  if (snapshot === null) return refuse(new RouterError('not_ready', 'the router has no configuration yet'), model);

  const facts = { model, path: pathOnly, rawHeaders: req.rawHeaders };
  const explain = deps.allowExplainHeader ? explainRequested(req.rawHeaders) : null;
  const trace = explain === null ? null : new DecisionRecorder(false, facts);
  const routed = resolveRoute(snapshot, facts, trace);
  if (!routed.ok) {
    setExplainHeader(res, trace, explain, routed.error);
    return refuse(routed.error, model);
  }
  const { route, rule, server, isLora, upstreamModel } = routed;
  record.route = route;
  record.rule = rule;
  record.server = server;
  record.upstreamModel = upstreamModel;
  const edits: BodyEdit[] = [];
  if (upstreamModel !== model) edits.push({ key: 'model', value: upstreamModel });
  const stream = parsed.stream === true;
  let hideUsage = false;
  if (stream) {
    const options = parsed.stream_options;
    const asked = isObject(options) && options.include_usage === true;
    if (!asked) {
      // Learn token usage from the stream; the extra usage-only event is hidden from this client.
      edits.push(includeUsageEdit(body, options));
      hideUsage = true;
    }
  }
  const upstreamBody = edits.length === 0 ? body : editTopLevel(body, edits);

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
    return proxyPdInference(deps, { req, res, path, requestId, model, upstreamModel, isLora, server, body, parsed, upstreamBody, stream, hideUsage, onDispatch: dispatched, onDone: done }, refuse);
  }

  const scheduleRequest: ScheduleRequest = { model, upstreamModel, isLora, server, rawHeaders: req.rawHeaders, body: parsed };
  const pods = deps.picker.schedule(scheduleRequest, server.pods, trace);
  if (pods.length === 0) {
    const error = new RouterError('pods_overloaded', `every pod of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`);
    setExplainHeader(res, trace, explain, error);
    return refuse(error, model);
  }
  setExplainHeader(res, trace, explain, null);

  const headers = buildUpstreamHeaders(req.rawHeaders, {
    requestId,
    remoteAddress: req.socket.remoteAddress,
    encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
  });
  record.traceId = ensureTraceContext(headers);
  record.scheduled = pods;
  record.scheduledAt = performance.now();
  deps.onDispatch(record);
  const exchange = new ProxyExchange(
    {
      res,
      path,
      body: upstreamBody,
      headers,
      requestId,
      stream,
      hideUsage,
      pods,
      timeoutMs: server.timeoutMs,
      retryAttempts: server.retryAttempts,
      retryIntervalMs: server.retryIntervalMs,
      closeConnection: deps.draining,
      onDone: (outcome) => {
        // Post-schedule hook (e.g. prefix-cache learns which pod now holds this prompt).
        if (outcome.error === null && outcome.pod !== null && outcome.status >= 200 && outcome.status < 300) {
          deps.picker.served?.(scheduleRequest, outcome.pod);
        }
        deps.onRequestDone(endRecord(record, outcome.status, outcome.error, outcome));
      },
    },
    deps.pools,
    deps.podStates,
  );
  exchange.start();
}

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
  return randomUUID();
}

export function sendError(res: ServerResponse, error: RouterError, requestId: string | null, close: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = error.toBody();
  const headers = ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body))];
  // Errors answered outside the inference pipeline (unknown path, wrong method) pass no id: every router error carries one.
  headers.push('x-request-id', requestId ?? requestIdOf(res.req));
  if (close) headers.push('connection', 'close');
  res.writeHead(error.status, headers);
  res.end(body);
}
