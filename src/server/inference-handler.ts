// The request pipeline for POST /v1/*: read → parse → match route → resolve ModelServer → rewrite body →
// schedule → proxy. Every step that can refuse does so with a RouterError, answered in one place.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RouterError } from '../errors/router-error.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import { buildUpstreamHeaders } from '../proxy/headers.ts';
import { editTopLevel, scanTopLevelMembers, type BodyEdit } from '../proxy/json-body.ts';
import { ProxyExchange, type ExchangeOutcome } from '../proxy/proxy-exchange.ts';
import type { UpstreamPools } from '../proxy/upstream-pools.ts';
import { matchRoute } from '../routing/match-route.ts';
import type { PodPicker, ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { SnapshotStore } from '../snapshot/snapshot-store.ts';
import type { CompiledRoute, CompiledRule, CompiledServer } from '../snapshot/types.ts';
import { readBody } from './read-body.ts';

export interface InferenceDeps {
  readonly store: SnapshotStore;
  readonly picker: PodPicker;
  readonly pools: UpstreamPools;
  readonly podStates: PodStateTable;
  readonly maxBodyBytes: number;
  /** True while draining: responses carry Connection: close. */
  readonly draining: () => boolean;
  readonly onRequestDone: (record: RequestRecord) => void;
}

/** What happened to one request; observability reads this. */
export interface RequestRecord {
  readonly requestId: string;
  readonly path: string;
  readonly model: string | null;
  readonly route: CompiledRoute | null;
  readonly rule: CompiledRule | null;
  readonly server: CompiledServer | null;
  readonly upstreamModel: string | null;
  readonly status: number;
  readonly error: RouterError | null;
  readonly outcome: ExchangeOutcome | null;
  readonly startedAt: number;
}

const MAX_REQUEST_ID_LENGTH = 200;
/** A "." or ".." path segment, also percent-encoded. */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

export function handleInference(deps: InferenceDeps, req: IncomingMessage, res: ServerResponse, path: string): void {
  const startedAt = Date.now();
  const requestId = requestIdOf(req);
  const refuse = (error: RouterError, model: string | null = null): void => {
    sendError(res, error, requestId, deps.draining());
    deps.onRequestDone({
      requestId, path, model, route: null, rule: null, server: null, upstreamModel: null,
      status: error.status, error, outcome: null, startedAt,
    });
  };
  readBody(req, deps.maxBodyBytes, (result) => {
    if (!result.ok) {
      if (result.reason === 'too_large') {
        res.shouldKeepAlive = false; // the rest of the body is not read; the connection cannot be reused
        refuse(new RouterError('request_too_large', `request body exceeds the limit of ${deps.maxBodyBytes} bytes`));
      }
      return;
    }
    try {
      proxyInference(deps, req, res, path, result.body, requestId, startedAt, refuse);
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
  requestId: string,
  startedAt: number,
  refuse: (error: RouterError, model?: string | null) => void,
): void {
  const queryAt = path.indexOf('?');
  const pathOnly = queryAt < 0 ? path : path.slice(0, queryAt);
  // Forwarded as is, "/v1/../x" would reach pod endpoints outside /v1 on engines that resolve dot segments.
  if (DOT_SEGMENT.test(pathOnly)) return refuse(new RouterError('not_found', `no route for POST ${pathOnly}`));
  const parsed = parseRequestBody(body);
  const model = parsed.model as string;
  const snapshot = deps.store.snapshot;
  if (snapshot === null) return refuse(new RouterError('not_ready', 'the router has no configuration yet'), model);

  const decision = matchRoute(snapshot, { model, path: pathOnly, rawHeaders: req.rawHeaders });
  if (!decision.matched) {
    return refuse(new RouterError('model_not_found', `The model \`${model}\` does not exist.`), model);
  }
  const { route, rule, target, isLora } = decision;
  if (target.kind === 'provider') {
    return snapshot.providers.has(target.providerKey)
      ? refuse(new RouterError('unsupported_target', `ExternalModelProvider ${target.providerKey} targets are not supported yet`), model)
      : refuse(new RouterError('model_server_not_found', `ExternalModelProvider ${target.providerKey} not found`), model);
  }
  const server = snapshot.servers.get(target.serverKey);
  if (server === undefined) {
    return refuse(new RouterError('model_server_not_found', `ModelServer ${target.serverKey} not found`), model);
  }
  if (server.pods.length === 0) {
    return refuse(new RouterError('no_ready_pods', `no ready pods for ModelServer ${server.key}`), model);
  }

  const upstreamModel = !isLora && server.model !== undefined ? server.model : model;
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

  const scheduleRequest: ScheduleRequest = { model, upstreamModel, isLora, server, rawHeaders: req.rawHeaders, body: parsed };
  const pods = deps.picker.schedule(scheduleRequest, server.pods);
  if (pods.length === 0) {
    return refuse(new RouterError('pods_overloaded', `every pod of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`), model);
  }

  const exchange = new ProxyExchange(
    {
      res,
      path,
      body: upstreamBody,
      headers: buildUpstreamHeaders(req.rawHeaders, {
        requestId,
        remoteAddress: req.socket.remoteAddress,
        encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
      }),
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
        deps.onRequestDone({
          requestId, path, model, route, rule, server, upstreamModel,
          status: outcome.status, error: outcome.error, outcome, startedAt,
        });
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

interface ParsedBody {
  [key: string]: unknown;
  model: unknown;
  stream?: unknown;
  stream_options?: unknown;
}

function parseRequestBody(body: Buffer): ParsedBody {
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
