// What happened to one inference request, as the request pipeline (server/inference-handler.ts) reports it: one
// record per request, created on receipt and filled in as the request goes (onDispatch when the upstream exchange
// starts, onRequestDone when it ends). Metrics and the access log read only this.
import type { IncomingMessage } from 'node:http';
import type { RouterError } from '../errors/router-error.ts';
import type { ExchangeOutcome } from '../proxy/backend.ts';
import type { CompiledProvider, CompiledRoute, CompiledRule, CompiledServer, PodEndpoint } from '../snapshot/types.ts';

/** One phase of a PD-disaggregated request, for the prefill/decode duration histograms. */
export interface PhaseTiming {
  readonly durationMs: number;
  /** The phase's status as Kthena labels it: 200 when it succeeded, 500 when not. */
  readonly status: number;
}

export interface RequestRecord {
  readonly requestId: string;
  readonly method: string;
  /** Path and query as the client sent them (logs and labels use the path only). */
  readonly path: string;
  /** "HTTP/1.1" */
  readonly protocol: string;
  /** Wall clock of receipt, ms since the epoch. */
  readonly startedAt: number;
  /** Monotonic clock (performance.now(), ms) at receipt; scheduledAt: routed and scheduled (0: never); endedAt: end. */
  readonly receivedAt: number;
  scheduledAt: number;
  endedAt: number;
  // Filled in as the pipeline learns them.
  /** The body's model, once the body parsed. */
  model: string | null;
  /** The parsed request body. Never logged: only the input-token estimate reads its prompt. */
  body: Readonly<Record<string, unknown>> | null;
  route: CompiledRoute | null;
  rule: CompiledRule | null;
  server: CompiledServer | null;
  /** The ExternalModelProvider that served the request (then `server` is null). */
  provider?: CompiledProvider | null;
  upstreamModel: string | null;
  /** The pods in the scheduler's order (the first is its choice), or null when the request was not scheduled. */
  scheduled: readonly PodEndpoint[] | null;
  /** The authenticated caller (the identity's user: a JWT `sub` or an API key's user, never a credential). */
  user?: string | null;
  /** Time spent waiting for admission (the fairness queue), ms; -1 or absent when no admission was consulted. */
  queueMs?: number;
  /** W3C trace id sent upstream (the client's, or a new one), null when nothing was sent. */
  traceId: string | null;
  // The result.
  /** Status sent to the client; 0 when the client went away first. */
  status: number;
  error: RouterError | null;
  /** The upstream exchange's result (attempts, pod, usage, upstream status, time of its headers). */
  outcome: ExchangeOutcome | null;
  /** PD-disaggregated requests only. */
  prefill?: PhaseTiming;
  decode?: PhaseTiming;
  /** Metrics' bookkeeping: the series a dispatched request is counted in until it ends (metrics.ts); null otherwise. */
  dispatchedTo?: object | null;
}

/** A request just received: the record the pipeline fills in. */
export function startRecord(req: IncomingMessage, requestId: string, path: string): RequestRecord {
  return {
    requestId, method: req.method ?? 'POST', path, protocol: protocolOf(req),
    startedAt: Date.now(), receivedAt: performance.now(), scheduledAt: 0, endedAt: 0,
    model: null, body: null, route: null, rule: null, server: null, provider: null, upstreamModel: null, scheduled: null, user: null, queueMs: -1,
    traceId: null, status: 0, error: null, outcome: null, dispatchedTo: null,
  };
}

/**
 * The request ended: answered by the router (`outcome` null), by a pod, or abandoned by its client (status 0,
 * no error). Returns the record, complete.
 */
export function endRecord(record: RequestRecord, status: number, error: RouterError | null, outcome: ExchangeOutcome | null): RequestRecord {
  record.status = status;
  record.error = error;
  record.outcome = outcome;
  record.endedAt = performance.now();
  return record;
}

export function protocolOf(req: IncomingMessage): string {
  return req.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`;
}

/** The path without its query string. */
export function pathOnly(path: string): string {
  const at = path.indexOf('?');
  return at < 0 ? path : path.slice(0, at);
}
