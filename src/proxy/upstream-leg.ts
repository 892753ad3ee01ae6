// One upstream request (a "leg") on undici's dispatch() callbacks, for every backend: a pod, either side of a
// prefill/decode pair, an external provider. The upstream's in-flight count, passive health, the timeout (a deadline
// node: no timer per request) and cancellation live here; what to do with the answer is the listener's business.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { RouterError } from '../errors/router-error.ts';
import type { PodLiveState, PodStateTable } from '../pods/pod-state.ts';
import { DeadlineNode, deadlineList } from './deadlines.ts';

/** Connection errors of a request that never reached its upstream: safe to try elsewhere. */
export const CONNECT_ERRORS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export type LegFailureKind =
  /** The upstream was never reached (refused, unreachable, its TLS handshake failed): safe to retry elsewhere. */
  | 'connect'
  /** No answer within the timeout. */
  | 'timeout'
  /** No free connection to the upstream within the connection wait: not sent, safe to try elsewhere. */
  | 'busy'
  /** The connection broke, before or after the response headers. */
  | 'broken';

export interface LegFailure {
  readonly kind: LegFailureKind;
  readonly error: RouterError;
  /** Response headers had arrived. */
  readonly afterHeaders: boolean;
}

/** Receives one leg's events; after onEnd or onFailure nothing more comes, and nothing comes once abandoned. */
export interface LegListener {
  onStart(leg: UpstreamLeg, status: number, headers: IncomingHttpHeaders): void;
  /** False pauses the upstream read until leg.resume(). */
  onData(leg: UpstreamLeg, chunk: Buffer): boolean;
  onEnd(leg: UpstreamLeg): void;
  onFailure(leg: UpstreamLeg, failure: LegFailure): void;
}

/** What a leg sends (an ExchangeRequest is one: a pod attempt sends the client's request as the exchange has it). */
export interface LegRequest {
  /** Absent: POST. */
  readonly method?: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: Buffer;
  /** Bounds the wait for the response headers, or the whole response when the leg's timeoutCoversBody. */
  readonly timeoutMs: number | undefined;
}

/** Subclasses name the upstream ("pod ns/name", "prefill pod ns/name", …) for error messages. */
export abstract class UpstreamLeg extends DeadlineNode implements Dispatcher.DispatchHandler {
  /** Connection pool and live-state key. */
  readonly origin: string;
  private readonly states: PodStateTable;
  private readonly state: PodLiveState;
  private readonly listener: LegListener;
  private readonly request: LegRequest;
  /** The timeout bounds the whole response (a prefill: its body is needed) rather than the wait for headers. */
  private readonly timeoutCoversBody: boolean;
  private controller: Dispatcher.DispatchController | null = null;
  private abandonReason: Error | null = null;
  private released = false;
  private headersSeen = false;
  private paused = false;
  private done = false;
  /** On the connection-wait deadline list (queued in the pool); the response timeout starts once a connection is had. */
  private waitingMs = 0;

  constructor(origin: string, states: PodStateTable, listener: LegListener, request: LegRequest, timeoutCoversBody: boolean) {
    super();
    this.origin = origin;
    this.states = states;
    this.state = states.get(origin);
    this.listener = listener;
    this.request = request;
    this.timeoutCoversBody = timeoutCoversBody;
  }

  /** The upstream as error messages name it. */
  abstract get label(): string;

  /** Ended (answered in full, failed or abandoned). */
  get settled(): boolean {
    return this.done || this.abandonReason !== null;
  }

  /** `connectionWaitMs` (0: unbounded) bounds the wait for a free pooled connection, connecting included. */
  dispatch(pool: Dispatcher, connectionWaitMs = 0): void {
    this.state.inFlight++;
    const { method = 'POST', path, headers, body, timeoutMs } = this.request;
    if (connectionWaitMs > 0) {
      this.waitingMs = connectionWaitMs;
      deadlineList(connectionWaitMs).add(this);
    } else if (timeoutMs !== undefined) {
      deadlineList(timeoutMs).add(this);
    }
    // trafficPolicy.timeout replaces the pool's default header timeout (--upstream-header-timeout).
    pool.dispatch({ path, method, headers, body: body.length === 0 && method !== 'POST' ? null : body, headersTimeout: timeoutMs === undefined ? undefined : 0 }, this);
  }

  /** Cancels the request (the upstream sees the connection close); no listener call follows. */
  abandon(reason: Error): void {
    if (this.abandonReason !== null || this.done) return;
    this.abandonReason = reason;
    this.clearTimer();
    if (this.controller !== null && !this.controller.aborted) this.controller.abort(reason);
    this.release();
  }

  /** Resumes a read paused because the client's socket was full. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.controller !== null && !this.settled) this.controller.resume();
  }

  /** The timeout passed (the node is off its deadline list already). */
  deadlinePassed(): void {
    if (this.settled) return;
    if (this.waitingMs > 0) {
      const waited = this.waitingMs;
      this.waitingMs = 0;
      this.abandon(new Error(`${this.label} had no free connection`));
      this.done = true;
      this.listener.onFailure(this, {
        kind: 'busy',
        error: new RouterError('upstream_busy', `${this.label} had no free connection within ${waited} ms (--upstream-connection-wait)`),
        afterHeaders: false,
      });
      return;
    }
    const ms = this.request.timeoutMs ?? 0;
    const what = this.timeoutCoversBody ? 'did not answer' : 'sent no response headers';
    this.abandon(new Error(`${this.label} timed out`));
    this.done = true;
    this.listener.onFailure(this, {
      kind: 'timeout',
      error: new RouterError('upstream_timeout', `${this.label} ${what} within ${ms} ms`),
      afterHeaders: this.headersSeen,
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abandonReason !== null) {
      controller.abort(this.abandonReason);
      return;
    }
    // undici calls this when the request gets a connection: the wait for one is over.
    if (this.waitingMs > 0) {
      this.waitingMs = 0;
      this.clearTimer();
      if (this.request.timeoutMs !== undefined) deadlineList(this.request.timeoutMs).add(this);
    }
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.settled) return;
    this.headersSeen = true;
    if (!this.timeoutCoversBody) this.clearTimer();
    this.listener.onStart(this, statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    if (!this.listener.onData(this, chunk) && !this.settled) {
      // Backpressure: a slow client pauses the upstream read until its socket drains.
      this.paused = true;
      controller.pause();
    }
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.done = true;
    this.clearTimer();
    this.release();
    this.states.reportSuccess(this.origin);
    this.listener.onEnd(this);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.clearTimer();
    this.release();
    if (this.settled) return;
    this.done = true;
    const code = (error as { code?: string }).code;
    // No connection was had (undici starts a request only on an established, TLS-verified connection): the request
    // was never written, whatever failed (refused, unreachable, a certificate that does not verify).
    const connect = this.controller === null || (code !== undefined && CONNECT_ERRORS.has(code));
    const detail = code !== undefined ? `${code}: ${error.message}` : error.message;
    if (connect) this.states.reportConnectFailure(this.origin, detail);
    if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      this.listener.onFailure(this, {
        kind: 'timeout',
        error: new RouterError('upstream_timeout', `${this.label} sent no response headers within the upstream header timeout (--upstream-header-timeout)`),
        afterHeaders: false,
      });
      return;
    }
    if (code === 'UND_ERR_BODY_TIMEOUT') {
      this.listener.onFailure(this, {
        kind: 'timeout',
        error: new RouterError('upstream_stream_error', `${this.label} sent nothing for longer than the stream idle timeout (--stream-idle-timeout)`),
        afterHeaders: this.headersSeen,
      });
      return;
    }
    this.listener.onFailure(this, {
      kind: connect ? 'connect' : 'broken',
      error: this.headersSeen
        ? new RouterError('upstream_stream_error', `${this.label} broke off the response: ${error.message}`)
        : new RouterError('upstream_unavailable', `${this.label} could not be reached (${detail})`),
      afterHeaders: this.headersSeen,
    });
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
