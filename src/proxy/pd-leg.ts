// One upstream request of a prefill/decode pair (a "leg"), on undici's dispatch() callbacks like the aggregated path's
// attempts: the pod's in-flight count, passive health, the per-leg timeout and cancellation live here; what to do with
// the answer is the listener's business (pd-exchange.ts).
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { RouterError } from '../errors/router-error.ts';
import type { PodLiveState, PodStateTable } from '../pods/pod-state.ts';
import type { PdRole, PodEndpoint } from '../snapshot/types.ts';
import { CONNECT_ERRORS } from './proxy-exchange.ts';

export type LegFailureKind =
  /** The pod was never reached (refused, unreachable): safe to retry elsewhere. */
  | 'connect'
  /** No answer within trafficPolicy.timeout. */
  | 'timeout'
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

export interface LegRequest {
  readonly path: string;
  readonly headers: string[];
  readonly body: Buffer;
  readonly timeoutMs: number | undefined;
  /** The timeout bounds the whole response (prefill: its body is needed) rather than the wait for headers. */
  readonly timeoutCoversBody: boolean;
}

export class UpstreamLeg implements Dispatcher.DispatchHandler {
  readonly role: PdRole;
  readonly pod: PodEndpoint;
  private readonly states: PodStateTable;
  private readonly state: PodLiveState;
  private readonly listener: LegListener;
  private readonly request: LegRequest;
  private controller: Dispatcher.DispatchController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private abandonReason: Error | null = null;
  private released = false;
  private headersSeen = false;
  private done = false;

  constructor(role: PdRole, pod: PodEndpoint, states: PodStateTable, listener: LegListener, request: LegRequest) {
    this.role = role;
    this.pod = pod;
    this.states = states;
    this.state = states.get(pod.origin);
    this.listener = listener;
    this.request = request;
  }

  /** Ended (answered in full, failed or abandoned). */
  get settled(): boolean {
    return this.done || this.abandonReason !== null;
  }

  dispatch(pool: Dispatcher): void {
    this.state.inFlight++;
    const { path, headers, body, timeoutMs } = this.request;
    if (timeoutMs !== undefined) this.timer = setTimeout(this.onTimeout, timeoutMs);
    pool.dispatch({ path, method: 'POST', headers, body }, this);
  }

  /** Cancels the request (the pod sees the connection close); no listener call follows. */
  abandon(reason: Error): void {
    if (this.abandonReason !== null || this.done) return;
    this.abandonReason = reason;
    this.clearTimer();
    if (this.controller !== null && !this.controller.aborted) this.controller.abort(reason);
    this.release();
  }

  resume(): void {
    if (this.controller !== null && !this.settled) this.controller.resume();
  }

  private readonly onTimeout = (): void => {
    this.timer = null;
    if (this.settled) return;
    const ms = this.request.timeoutMs ?? 0;
    const what = this.request.timeoutCoversBody ? 'did not answer' : 'sent no response headers';
    this.abandon(new Error(`${this.role} leg timed out`));
    this.done = true;
    this.listener.onFailure(this, {
      kind: 'timeout',
      error: new RouterError('upstream_timeout', `${this.role} pod ${this.pod.podKey} ${what} within ${ms} ms`),
      afterHeaders: this.headersSeen,
    });
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abandonReason !== null) controller.abort(this.abandonReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.settled) return;
    this.headersSeen = true;
    if (!this.request.timeoutCoversBody) this.clearTimer();
    this.listener.onStart(this, statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    if (!this.listener.onData(this, chunk)) controller.pause();
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.done = true;
    this.clearTimer();
    this.release();
    this.states.reportSuccess(this.pod.origin);
    this.listener.onEnd(this);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.clearTimer();
    this.release();
    if (this.settled) return;
    this.done = true;
    const code = (error as { code?: string }).code;
    const connect = code !== undefined && CONNECT_ERRORS.has(code);
    if (connect) this.states.reportConnectFailure(this.pod.origin, `${code}: ${error.message}`);
    const detail = code !== undefined ? `${code}: ${error.message}` : error.message;
    this.listener.onFailure(this, {
      kind: connect ? 'connect' : 'broken',
      error: this.headersSeen
        ? new RouterError('upstream_stream_error', `${this.role} pod ${this.pod.podKey} broke off the response: ${error.message}`)
        : new RouterError('upstream_unavailable', `${this.role} pod ${this.pod.podKey} could not be reached (${detail})`),
      afterHeaders: this.headersSeen,
    });
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.state.inFlight--;
  }
}
