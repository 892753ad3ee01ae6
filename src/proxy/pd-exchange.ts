// One client request served by a prefill/decode pair (PD disaggregation). The exchange owns the client response:
// every write to it goes through commit / commitWhole / fail / brokeMidway below, each of which refuses once a
// response has begun, so a client never gets a second response. Pair attempts (pd-attempt.ts) run the two legs.
//   - A failed pair is retried on another pair only before anything reached the client, with the aggregated path's
//     rules: connection failures up to 3 times without a policy; 502/503/504, timeouts, broken connections and
//     protocol failures within trafficPolicy.retry.attempts, after retryInterval. Other answers reach the client.
//   - Once the decode's answer has begun, a failure ends it: an SSE error event then close, or a cut connection.
//   - trafficPolicy.timeout bounds each leg: the prefill's whole answer, and the decode's response headers.
//   - A client that goes away cancels both legs at once.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { RouterError, writeErrorResponse } from '../errors/router-error.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import type { PdPair } from '../scheduling/pd-pairs.ts';
import type { PodEndpoint } from '../snapshot/types.ts';
import type { ConnectorName, PairBodies, PdConnector } from './connectors/index.ts';
import { buildClientHeaders } from './headers.ts';
import { PairAttempt } from './pd-attempt.ts';
import { MAX_CONNECT_RETRIES, type ExchangeOutcome } from './proxy-exchange.ts';
import { SseUsageTap, type TokenUsage } from './sse-usage.ts';
import type { UpstreamPools } from './upstream-pools.ts';

/** The pairs of one request, best first (scheduling/pd-pairs.ts). */
export interface PairSource {
  /** The best pair with no excluded pod; the same until something is excluded. */
  next(): PdPair | null;
  exclude(pod: PodEndpoint): void;
}

export interface PdExchangeOptions {
  readonly res: ServerResponse;
  /** Path and query as the client sent them; both legs use them. */
  readonly path: string;
  /** Upstream request headers (buildUpstreamHeaders). */
  readonly headers: string[];
  readonly requestId: string;
  /** The client asked for a stream. */
  readonly stream: boolean;
  /** The router added stream_options.include_usage to the decode request: hide the usage-only event. */
  readonly hideUsage: boolean;
  readonly connector: PdConnector;
  readonly pairs: PairSource;
  /** The two bodies of one pair attempt. */
  readonly bodiesFor: (pair: PdPair) => PairBodies;
  readonly timeoutMs: number | undefined;
  readonly retryAttempts: number;
  readonly retryIntervalMs: number;
  readonly closeConnection: () => boolean;
  readonly onDone: (outcome: PdOutcome) => void;
}

/** One leg of the pair that answered (or last failed), for the prefill/decode duration metrics. */
export interface PhaseTiming {
  readonly durationMs: number;
  /** 200 when the leg succeeded, 500 when not (Kthena's labels). */
  readonly status: number;
}

export interface PdOutcome extends ExchangeOutcome {
  readonly connector: ConnectorName;
  /** The pair whose answer the client got (`pod` is its decode pod, or the prefill pod whose error was passed on). */
  readonly pair: PdPair | null;
  /** Prefill pod of `pair`. */
  readonly prefillPod: PodEndpoint | null;
  /** The legs of the last pair attempt; null when that leg never started. */
  readonly prefillPhase: PhaseTiming | null;
  readonly decodePhase: PhaseTiming | null;
}

export type PairFailureKind = 'connect' | 'retryable' | 'final';

class ClientGone extends Error {}

export class PdExchange {
  readonly o: PdExchangeOptions;
  readonly pools: UpstreamPools;
  readonly podStates: PodStateTable;
  /** Prefill legs need a plain JSON answer: no content coding. */
  readonly prefillHeaders: string[];
  private current: PairAttempt | null = null;
  /** The latest attempt, kept after it failed: its legs' timings go into the outcome. */
  private latest: PairAttempt | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private connectRetriesLeft = MAX_CONNECT_RETRIES;
  private policyRetriesLeft: number;
  private committed = false;
  private finished = false;
  private clientGone = false;
  private lastError: RouterError | null = null;
  private upstreamStatus = 0;
  private servedBy: PdPair | null = null;
  private servedPod: PodEndpoint | null = null;
  private headersAt = 0;

  constructor(options: PdExchangeOptions, pools: UpstreamPools, states: PodStateTable) {
    this.o = options;
    this.pools = pools;
    this.podStates = states;
    this.policyRetriesLeft = options.retryAttempts;
    this.prefillHeaders = withoutHeader(options.headers, 'accept-encoding');
    options.res.once('close', this.onClientClose);
  }

  start(): void {
    this.nextPair();
  }

  private readonly onClientClose = (): void => {
    if (this.finished) return;
    this.clientGone = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.current?.abandon(new ClientGone('client disconnected'));
    this.finish(0, null);
  };

  private nextPair(): void {
    this.retryTimer = null;
    if (this.clientGone || this.finished) return;
    const pair = this.o.pairs.next();
    if (pair === null) {
      this.fail(this.lastError ?? new RouterError('no_pd_pair', 'no PD group has both a ready prefill pod and a ready decode pod'));
      return;
    }
    this.attempts++;
    let bodies: PairBodies;
    try {
      bodies = this.o.bodiesFor(pair);
    } catch (err) {
      this.fail(new RouterError('internal_error', `internal error building the prefill request: ${(err as Error).message}`));
      return;
    }
    this.current = this.latest = new PairAttempt(this, pair, bodies);
    this.current.start();
  }

  /**
   * The attempt's answer from `pod` is retryable (502/503/504): true when it should be dropped for another pair,
   * which takes a policy retry and a pair without `pod`.
   */
  retryInsteadOf(attempt: PairAttempt, pod: PodEndpoint): boolean {
    if (attempt !== this.current || this.committed) return false;
    this.o.pairs.exclude(pod);
    return this.policyRetriesLeft > 0 && this.o.pairs.next() !== null;
  }

  /** The attempt failed before anything reached the client (its legs are already abandoned). */
  pairFailed(attempt: PairAttempt, failedPods: readonly PodEndpoint[], error: RouterError, kind: PairFailureKind): void {
    if (attempt !== this.current || this.finished || this.committed) return;
    this.current = null;
    this.lastError = error;
    for (const pod of failedPods) this.o.pairs.exclude(pod);
    const another = this.o.pairs.next() !== null;
    if (kind === 'connect' && another && this.connectRetriesLeft > 0) {
      this.connectRetriesLeft--;
      this.nextPair();
    } else if (kind !== 'final' && another && this.policyRetriesLeft > 0) {
      this.policyRetriesLeft--;
      this.retryTimer = setTimeout(() => this.nextPair(), this.o.retryIntervalMs);
    } else {
      this.fail(error);
    }
  }

  /** The attempt's decode answer is the client's: writes its headers; returns the SSE tap for its body, if any. */
  commit(attempt: PairAttempt, pod: PodEndpoint, status: number, headers: IncomingHttpHeaders): { tap: SseUsageTap | null } | null {
    if (!this.begin(attempt, pod, status)) return null;
    const contentType = headers['content-type'];
    const isSse = this.o.stream && typeof contentType === 'string' && contentType.startsWith('text/event-stream');
    const tap = isSse ? new SseUsageTap(this.o.hideUsage) : null;
    const res = this.o.res;
    res.writeHead(status, buildClientHeaders(headers, this.o.requestId, tap !== null && this.o.hideUsage, this.o.closeConnection()));
    if (isSse) res.flushHeaders();
    return { tap };
  }

  /** A complete upstream answer (a prefill's error) is the client's. */
  commitWhole(attempt: PairAttempt, pod: PodEndpoint, status: number, headers: IncomingHttpHeaders, body: Buffer): void {
    if (!this.begin(attempt, pod, status)) return;
    const res = this.o.res;
    res.writeHead(status, buildClientHeaders(headers, this.o.requestId, false, this.o.closeConnection()));
    res.end(body);
    this.finish(status, null);
  }

  get response(): ServerResponse {
    return this.o.res;
  }

  /** The committed answer ended. */
  completed(attempt: PairAttempt, usage: TokenUsage | null): void {
    if (attempt !== this.current || this.finished || !this.committed) return;
    this.o.res.end();
    this.finish(this.upstreamStatus, usage);
  }

  /** The committed answer broke after bytes went out: end the response cleanly, never start another. */
  brokeMidway(attempt: PairAttempt, error: RouterError, sse: boolean, usage: TokenUsage | null): void {
    if (attempt !== this.current || this.finished || !this.committed) return;
    this.lastError = error;
    const res = this.o.res;
    if (sse && !res.writableEnded) res.end(`data: ${error.toBody()}\n\n`);
    else res.destroy();
    this.finish(this.upstreamStatus, usage);
  }

  private begin(attempt: PairAttempt, pod: PodEndpoint, status: number): boolean {
    if (attempt !== this.current || this.committed || this.finished || this.o.res.headersSent) return false;
    this.committed = true;
    this.lastError = null; // the client gets an upstream answer, whatever failed before
    this.upstreamStatus = status;
    this.servedBy = attempt.pair;
    this.servedPod = pod;
    this.headersAt = performance.now();
    return true;
  }

  private fail(error: RouterError): void {
    if (this.finished) return;
    this.lastError = error;
    const res = this.o.res;
    if (!this.committed && !res.headersSent) {
      this.committed = true;
      writeErrorResponse(res, error, this.o.requestId, this.o.closeConnection());
    }
    this.finish(error.status, null);
  }

  private finish(status: number, usage: TokenUsage | null): void {
    if (this.finished) return;
    this.finished = true;
    const pair = this.servedBy;
    this.o.onDone({
      status: this.clientGone ? 0 : status,
      attempts: this.attempts,
      pod: this.servedPod,
      upstreamStatus: this.upstreamStatus,
      usage,
      error: this.clientGone ? null : this.lastError,
      clientAborted: this.clientGone,
      headersAt: this.headersAt,
      connector: this.o.connector.name,
      pair,
      prefillPod: pair?.prefill ?? null,
      prefillPhase: this.latest?.phase('prefill') ?? null,
      decodePhase: this.latest?.phase('decode') ?? null,
    });
  }
}

function withoutHeader(headers: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() !== name) out.push(headers[i], headers[i + 1]);
  }
  return out;
}
