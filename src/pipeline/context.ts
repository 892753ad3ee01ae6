// One RequestContext per inference request, created when the request arrives: it owns the client-abort signal,
// the parsed facts, the identity, the route decision, the scheduling result and the RequestRecord the access log
// reads, and it is the options object of the upstream exchange (one object per request instead of a closure per
// callback). The abort signal costs nothing until a stage asks for it or waits.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RateLimiter, ModelLimit } from '../filters/rate-limit/rate-limiter.ts';
import type { DecisionRecorder } from '../observability/explain/decision-recorder.ts';
import type { SummaryFormat } from '../observability/explain/summary.ts';
import type { RequestRecord } from '../observability/request-record.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import type { ExchangeOutcome, ExchangeRequest } from '../proxy/exchange.ts';
import type { UpstreamPools } from '../proxy/upstream-pools.ts';
import type { PdPairPlanner } from '../scheduling/pd-pairs.ts';
import type { PodPicker, ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { ResponseOwner, ResponseOwners } from '../scheduling/response-owners.ts';
import type { StoredResponseTarget } from '../routing/stored-response-path.ts';
import type { SnapshotStore } from '../snapshot/snapshot-store.ts';
import type { CompiledProvider, CompiledRoute, CompiledRule, CompiledServer, PodEndpoint } from '../snapshot/types.ts';
import type { Admission, AdmissionTicket, Authenticator, Identity } from './filters.ts';
import { finishRequest } from './run.ts';
import { storedResponseOutcome } from './stored-responses.ts';
import type { ParsedBody } from './stages/parse.ts';

export interface PipelineDeps {
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
  /** Filters; absent or null when not configured. */
  readonly authenticator?: Authenticator | null;
  readonly rateLimiter?: RateLimiter | null;
  readonly admission?: Admission | null;
  /** A request was refused by a rate limit (metrics: rate_limit_exceeded_total). */
  readonly onRateLimited?: ((model: string, limitType: string, path: string) => void) | null;
  /** A streaming request waiting for admission gets SSE comment heartbeats after this long, then as often. */
  readonly queueHeartbeatMs?: number;
  /** Which pod stores each Responses API response this router relayed (previous_response_id goes back there). */
  readonly responseOwners?: ResponseOwners | null;
}

const EMPTY_BODY = Buffer.alloc(0);

export class RequestContext implements ExchangeRequest {
  readonly deps: PipelineDeps;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Path and query as the client sent them; pathOnly without the query. */
  readonly path: string;
  pathOnly = '';
  readonly requestId: string;
  readonly record: RequestRecord;
  /** Index of the next stage to run (run.ts). */
  next = 0;
  /** A stage is waiting (a promise is pending); a client that leaves now is dropped at once. */
  waiting = false;
  /** The request has ended (answered, refused or abandoned); late results of waiting stages are ignored. */
  ended = false;

  /** A request on one stored Responses API response (GET, DELETE, cancel, input_items), or null (stored-responses.ts). */
  storedResponse: StoredResponseTarget | null = null;
  // parse
  clientBody: Buffer = EMPTY_BODY;
  /** Where the stored response is (a stored-response request). */
  storedOwner: ResponseOwner | null = null;
  parsed: ParsedBody | null = null;
  model = '';
  // authenticate
  identity: Identity | null = null;
  // route
  explain: SummaryFormat | null = null;
  trace: DecisionRecorder | null = null;
  route: CompiledRoute | null = null;
  rule: CompiledRule | null = null;
  /** The target: a ModelServer, or an ExternalModelProvider (then server is null and nothing is scheduled). */
  server: CompiledServer | null = null;
  provider: CompiledProvider | null = null;
  isLora = false;
  upstreamModel = '';
  // rate-limit, admit
  rateLimit: ModelLimit | null = null;
  /** Input tokens the rate-limit stage took: put back if the request ends before it is dispatched. */
  inputTokensTaken = 0;
  ticket: AdmissionTicket | null = null;
  /** The admit stage opened an SSE response to send heartbeats: answers continue it, never a second status line. */
  sseOpened = false;
  // schedule
  scheduleRequest: ScheduleRequest | null = null;
  pairs: PdPairPlanner | null = null;
  /** A Responses API request to pods: its answer's response id is learnt (ResponseOwners). */
  learnResponseId = false;

  // The upstream exchange's options (ExchangeRequest), set by the route, schedule and proxy stages.
  /** The upstream request's method: POST but for stored-response requests. */
  method = 'POST';
  /** The body sent upstream (model rewritten, usage asked for). */
  body: Buffer = EMPTY_BODY;
  headers: string[] = [];
  stream = false;
  hideUsage = false;
  pods: readonly PodEndpoint[] = [];
  timeoutMs: number | undefined = undefined;
  retryAttempts = 0;
  retryIntervalMs = 0;
  readonly closeConnection: () => boolean;

  private controller: AbortController | null = null;
  private watching = false;

  constructor(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse, path: string, requestId: string, record: RequestRecord) {
    this.deps = deps;
    this.req = req;
    this.res = res;
    this.path = path;
    this.requestId = requestId;
    this.record = record;
    this.closeConnection = deps.draining;
  }

  /** Fired when the client goes away. Created on first use. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      this.watchClient();
      const socket = this.res.socket;
      if (socket === null || socket.destroyed) this.controller.abort();
    }
    return this.controller.signal;
  }

  /** Listens for the client leaving (once per request; only requests that wait or ask for the signal pay for it). */
  watchClient(): void {
    if (this.watching) return;
    this.watching = true;
    (this.res as WatchedResponse)[CONTEXT] = this;
    this.res.on('close', onResponseClose);
  }

  /** The response closed: the client left unless the response was complete. */
  clientClosed(): void {
    // A complete response while a stage still waits: the drain ended a queued stream. The request is over all the
    // same and must leave the queue, never to be dispatched.
    if (this.res.writableFinished && !(this.waiting && !this.ended)) return;
    this.controller?.abort();
    if (this.waiting && !this.ended) {
      // Dropped at once: never dispatched; late results of the waiting stage are ignored.
      this.waiting = false;
      finishRequest(this, 0, null, null);
    }
  }

  /** ExchangeRequest: the upstream exchange ended. */
  onDone(outcome: ExchangeOutcome): void {
    if (outcome.prefillPhase != null) this.record.prefill = outcome.prefillPhase;
    if (outcome.decodePhase != null) this.record.decode = outcome.decodePhase;
    finishRequest(this, outcome.status, outcome.error, this.storedResponse === null ? outcome : storedResponseOutcome(this, outcome));
  }
}

const CONTEXT = Symbol('requestContext');

interface WatchedResponse extends ServerResponse {
  [CONTEXT]: RequestContext;
}

/** The context of a response whose client it watches (a stage waits, or the abort signal was asked for). */
export function watchedContextOf(res: ServerResponse): RequestContext | undefined {
  return (res as Partial<WatchedResponse>)[CONTEXT];
}

/** 'close' listener of a watched response (`this` is the response, as EventEmitter calls it). */
function onResponseClose(this: WatchedResponse): void {
  this[CONTEXT].clientClosed();
}

