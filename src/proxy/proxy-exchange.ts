// One client request proxied to a pod, with retries on other pods before the first byte reaches the client.
// Built on undici's dispatch() callbacks: no streams, no per-chunk promises; chunks go to the client as they come.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { RouterError, writeErrorResponse } from '../errors/router-error.ts';
import type { PodLiveState, PodStateTable } from '../pods/pod-state.ts';
import type { PodEndpoint } from '../snapshot/types.ts';
import { DeadlineNode, deadlineList } from './deadlines.ts';
import { buildClientHeaders } from './headers.ts';
import { AnswerUsage } from './answer-usage.ts';
import { SseUsageTap, type TokenUsage } from './sse-usage.ts';
import type { UpstreamPools } from './upstream-pools.ts';

export interface ExchangeOptions {
  readonly res: ServerResponse;
  /** Path and query as the client sent them. */
  readonly path: string;
  readonly body: Buffer;
  readonly headers: string[];
  readonly requestId: string;
  /** The client asked for a stream ("stream": true). */
  readonly stream: boolean;
  /** The router added stream_options.include_usage: hide the usage-only event from this client. */
  readonly hideUsage: boolean;
  /** Pods in the order to try them. */
  readonly pods: readonly PodEndpoint[];
  readonly timeoutMs: number | undefined;
  /** Retries allowed on 502/503/504, timeouts and broken connections (trafficPolicy.retry.attempts). */
  readonly retryAttempts: number;
  readonly retryIntervalMs: number;
  readonly closeConnection: () => boolean;
  readonly onDone: (outcome: ExchangeOutcome) => void;
}

export interface ExchangeOutcome {
  /** Status sent to the client (0 if the client went away first). */
  readonly status: number;
  readonly attempts: number;
  readonly pod: PodEndpoint | null;
  readonly upstreamStatus: number;
  readonly usage: TokenUsage | null;
  readonly error: RouterError | null;
  readonly clientAborted: boolean;
  /** performance.now() when the response headers of the answering attempt arrived; 0 or absent if none did. */
  readonly headersAt?: number;
}

/** Connection attempts that never reached a pod are retried on other pods even without a retry policy. */
export const MAX_CONNECT_RETRIES = 3;
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([502, 503, 504]);
export const CONNECT_ERRORS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

class UpstreamTimeout extends Error {}
class ClientGone extends Error {}

export class ProxyExchange {
  private readonly o: ExchangeOptions;
  private readonly pools: UpstreamPools;
  readonly podStates: PodStateTable;
  private podIndex = 0;
  private attempts = 0;
  private policyRetriesLeft: number;
  private connectRetriesLeft = MAX_CONNECT_RETRIES;
  private current: Attempt | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private committed = false;
  private finished = false;
  private clientGone = false;
  private lastError: RouterError | null = null;
  private upstreamStatus = 0;
  private servedBy: PodEndpoint | null = null;
  private headersAt = 0;
  private drainListened = false;

  constructor(options: ExchangeOptions, pools: UpstreamPools, states: PodStateTable) {
    this.o = options;
    this.pools = pools;
    this.podStates = states;
    this.policyRetriesLeft = options.retryAttempts;
    // A response closes once: a plain listener (no once() wrapper), found through the response.
    (options.res as ExchangedResponse)[EXCHANGE] = this;
    options.res.on('close', onResponseClose);
  }

  start(): void {
    this.nextAttempt();
  }

  onClientClose(): void {
    if (this.finished) return;
    this.clientGone = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.current?.abandon(new ClientGone('client disconnected'));
    this.finish(0, null);
  };

  private nextAttempt(): void {
    this.retryTimer = null;
    if (this.clientGone) return;
    const pod = this.o.pods[this.podIndex++];
    if (pod === undefined) {
      this.fail(this.lastError ?? new RouterError('upstream_unavailable', 'no pod could be reached'));
      return;
    }
    this.attempts++;
    this.current = new Attempt(this, pod, this.podStates.get(pod.origin));
    this.current.dispatch(this.pools.get(pod.origin));
  }

  /** Called by an attempt that failed before anything reached the client. */
  attemptFailed(attempt: Attempt, error: RouterError, kind: 'connect' | 'retryable' | 'final'): void {
    if (attempt !== this.current || this.finished) return;
    this.current = null;
    this.lastError = error;
    const morePods = this.podIndex < this.o.pods.length;
    if (kind === 'connect' && morePods && this.connectRetriesLeft > 0) {
      this.connectRetriesLeft--;
      this.nextAttempt();
    } else if (kind !== 'final' && morePods && this.policyRetriesLeft > 0) {
      this.policyRetriesLeft--;
      this.retryTimer = setTimeout(() => this.nextAttempt(), this.o.retryIntervalMs);
    } else {
      this.fail(error);
    }
  }

  canRetryStatus(): boolean {
    return this.policyRetriesLeft > 0 && this.podIndex < this.o.pods.length;
  }

  /** The attempt's response is the one the client gets. */
  commit(attempt: Attempt, status: number, headers: IncomingHttpHeaders): SseUsageTap | null {
    this.committed = true;
    this.upstreamStatus = status;
    this.servedBy = attempt.pod;
    this.headersAt = performance.now();
    const contentType = headers['content-type'];
    const isSse = this.o.stream && typeof contentType === 'string' && contentType.startsWith('text/event-stream');
    const tap = isSse ? new SseUsageTap(this.o.hideUsage) : null;
    const res = this.o.res;
    res.writeHead(status, buildClientHeaders(headers, this.o.requestId, tap !== null && this.o.hideUsage, this.o.closeConnection()));
    if (isSse) res.flushHeaders();
    return tap;
  }

  get response(): ServerResponse {
    return this.o.res;
  }

  /** The current attempt paused its upstream read: resume it when the client's socket drains. */
  awaitDrain(): void {
    if (this.drainListened) return;
    this.drainListened = true;
    this.o.res.on('drain', onResponseDrain);
  }

  drained(): void {
    this.current?.resume();
  }

  get options(): ExchangeOptions {
    return this.o;
  }

  /** The committed attempt completed. */
  completed(status: number, usage: TokenUsage | null): void {
    if (this.finished) return;
    this.lastError = null; // a failed earlier attempt does not make the answered request an error
    if (!this.o.res.writableEnded) this.o.res.end(); // the attempt may have ended it with the last bytes
    this.finish(status, usage);
  }

  /** The committed attempt broke after bytes went to the client: end the response cleanly, never start another. */
  brokeMidway(error: RouterError, sse: boolean, usage: TokenUsage | null): void {
    if (this.finished) return;
    const res = this.o.res;
    this.lastError = error;
    if (sse && !res.writableEnded) {
      res.end(`data: ${error.toBody()}\n\n`);
    } else {
      res.destroy();
    }
    this.finish(this.upstreamStatus, usage);
  }

  private fail(error: RouterError): void {
    if (this.finished) return;
    this.lastError = error;
    const res = this.o.res;
    if (!res.headersSent) {
      writeErrorResponse(res, error, this.o.requestId, this.o.closeConnection());
    }
    this.finish(error.status, null);
  }

  private finish(status: number, usage: TokenUsage | null): void {
    if (this.finished) return;
    this.finished = true;
    this.o.onDone({
      status: this.clientGone ? 0 : status,
      attempts: this.attempts,
      pod: this.servedBy,
      upstreamStatus: this.upstreamStatus,
      usage,
      error: this.clientGone ? null : this.lastError,
      clientAborted: this.clientGone,
      headersAt: this.headersAt,
    });
  }

  get isCommitted(): boolean {
    return this.committed;
  }
}

const EXCHANGE = Symbol('exchange');
const DIGITS = /^\d+$/;

interface ExchangedResponse extends ServerResponse {
  [EXCHANGE]: ProxyExchange;
}

/** 'close' listener of an exchanged response: the client went away, or the response ended. */
function onResponseClose(this: ExchangedResponse): void {
  this[EXCHANGE].onClientClose();
}

/** 'drain' listener of an exchanged response whose attempt paused the upstream read. */
function onResponseDrain(this: ExchangedResponse): void {
  this[EXCHANGE].drained();
}

/** One try against one pod. Implements undici's dispatch handler; its response timeout is a deadline node. */
class Attempt extends DeadlineNode implements Dispatcher.DispatchHandler {
  readonly pod: PodEndpoint;
  private readonly exchange: ProxyExchange;
  private readonly state: PodLiveState;
  private controller: Dispatcher.DispatchController | null = null;
  /** The upstream read is paused until the client's socket drains. */
  private paused = false;
  private abandonReason: Error | null = null;
  private released = false;
  /** A retryable status arrived: drain its body, then retry. */
  private discarding = false;
  private committed = false;
  private answer: AnswerUsage | null = null;
  private status = 0;
  /** A body of known length that is not an event stream: its size (-1 otherwise), and the bytes sent on so far. */
  private expectedBytes = -1;
  private sentBytes = 0;

  constructor(exchange: ProxyExchange, pod: PodEndpoint, state: PodLiveState) {
    super();
    this.exchange = exchange;
    this.pod = pod;
    this.state = state;
  }

  dispatch(pool: Dispatcher): void {
    this.state.inFlight++;
    const o = this.exchange.options;
    if (o.timeoutMs !== undefined) deadlineList(o.timeoutMs).add(this);
    pool.dispatch({ path: o.path, method: 'POST', headers: o.headers, body: o.body }, this);
  }

  /** trafficPolicy.timeout passed without response headers. */
  deadlinePassed(): void {
    if (this.committed) return;
    const ms = this.exchange.options.timeoutMs ?? 0;
    this.abandon(new UpstreamTimeout(`no response headers within ${ms} ms`));
    this.exchange.attemptFailed(this, new RouterError('upstream_timeout', `pod ${this.pod.podKey} did not answer within ${ms} ms`), 'retryable');
  }

  /** Stop this attempt: the exchange has moved on or the client left. */
  abandon(reason: Error): void {
    if (this.abandonReason !== null) return;
    this.abandonReason = reason;
    this.clearTimer();
    if (this.controller !== null && !this.controller.aborted) this.controller.abort(reason);
    this.release();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abandonReason !== null) controller.abort(this.abandonReason);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.abandonReason !== null) return;
    this.clearTimer();
    this.status = statusCode;
    if (RETRYABLE_STATUS.has(statusCode) && this.exchange.canRetryStatus()) {
      this.discarding = true;
      return;
    }
    this.committed = true;
    const tap = this.exchange.commit(this, statusCode, headers);
    this.answer = new AnswerUsage(tap, statusCode, headers);
    if (tap === null) {
      const length = headers['content-length'];
      if (typeof length === 'string' && DIGITS.test(length)) this.expectedBytes = Number(length);
    }
  }

  /** The client's socket drained: resume the upstream read paused for it. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.controller?.resume();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.abandonReason !== null || this.discarding) return;
    const answer = this.answer;
    if (answer === null) return; // only a committed attempt reads its body
    const out = answer.pass(chunk);
    if (this.expectedBytes >= 0 && out !== null) {
      this.sentBytes += out.length;
      if (this.sentBytes === this.expectedBytes) {
        // The last bytes of the body: headers and body leave in one write, no cork and flush of a separate end().
        this.exchange.response.end(out);
        return;
      }
    }
    if (out !== null && out.length > 0 && !this.exchange.response.write(out)) {
      // Backpressure: a slow client pauses the upstream read until its socket drains.
      this.paused = true;
      controller.pause();
      this.exchange.awaitDrain();
    }
  }

  onResponseEnd(): void {
    if (this.abandonReason !== null) return;
    this.clearTimer();
    this.release();
    this.exchange.podStates.reportSuccess(this.pod.origin);
    if (this.discarding) {
      this.exchange.attemptFailed(this, new RouterError('upstream_unavailable', `pod ${this.pod.podKey} answered ${this.status}`), 'retryable');
      return;
    }
    this.exchange.completed(this.status, this.answer === null ? null : this.answer.finish(this.exchange.response));
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.clearTimer();
    this.release();
    if (this.abandonReason !== null) return;
    const code = (error as { code?: string }).code;
    const connectFailure = code !== undefined && CONNECT_ERRORS.has(code);
    if (connectFailure) this.exchange.podStates.reportConnectFailure(this.pod.origin, `${code}: ${error.message}`);
    if (this.committed) {
      this.exchange.brokeMidway(
        new RouterError('upstream_stream_error', `pod ${this.pod.podKey} broke off the response: ${error.message}`),
        (this.answer?.tap ?? null) !== null,
        this.answer?.partialUsage ?? null,
      );
      return;
    }
    const detail = code !== undefined ? `${code}: ${error.message}` : error.message;
    this.exchange.attemptFailed(
      this,
      new RouterError('upstream_unavailable', `pod ${this.pod.podKey} could not be reached (${detail})`),
      connectFailure ? 'connect' : 'retryable',
    );
  }

  private clearTimer(): void {
    this.deadlineList?.remove(this);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.state.inFlight--;
  }
}
