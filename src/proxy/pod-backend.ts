// A ModelServer's pods as a backend: each attempt is one request to the next pod in the scheduler's order. A
// retryable answer (502/503/504) that the exchange would rather retry is read to its end (the connection stays
// reusable) and dropped.
import type { IncomingHttpHeaders } from 'node:http';
import { RouterError } from '../errors/router-error.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import type { PodPicker, ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { PodEndpoint } from '../snapshot/types.ts';
import { RETRYABLE_STATUS, type AttemptSink, type Backend, type BackendAttempt, type BackendType } from './backend.ts';
import { UpstreamLeg, type LegFailure, type LegListener, type LegRequest } from './upstream-leg.ts';
import type { UpstreamPools } from './upstream-pools.ts';

export class PodBackend implements Backend, LegListener {
  readonly type: BackendType = 'model_server';
  private readonly pods: readonly PodEndpoint[];
  private readonly pools: UpstreamPools;
  private readonly states: PodStateTable;
  private readonly picker: PodPicker;
  /** null: the pods were not scheduled (a stored response's pod). */
  private readonly scheduled: ScheduleRequest | null;
  private exchange: AttemptSink | null = null;
  private index = 0;
  /** The current attempt's retryable answer is being read to its end, then dropped. */
  private discarding = false;
  private status = 0;

  /** `pods` in the order to try them, as `picker` scheduled them for `scheduled` (its post-schedule hook learns). */
  constructor(pods: readonly PodEndpoint[], pools: UpstreamPools, states: PodStateTable, picker: PodPicker, scheduled: ScheduleRequest | null) {
    this.pods = pods;
    this.pools = pools;
    this.states = states;
    this.picker = picker;
    this.scheduled = scheduled;
  }

  next(exchange: AttemptSink): BackendAttempt | null {
    const pod = this.pods[this.index];
    if (pod === undefined) return null;
    this.index++;
    this.exchange = exchange;
    this.discarding = false;
    return new PodAttempt(pod, this.pools, this.states, this, exchange.request);
  }

  hasNext(): boolean {
    return this.index < this.pods.length;
  }

  exhausted(): RouterError {
    return new RouterError('upstream_unavailable', 'no pod could be reached');
  }

  served(pod: PodEndpoint): void {
    if (this.scheduled !== null) this.picker.served?.(this.scheduled, pod);
  }

  onStart(upstream: UpstreamLeg, status: number, headers: IncomingHttpHeaders): void {
    const leg = upstream as PodAttempt;
    const exchange = this.exchange!;
    this.status = status;
    if (RETRYABLE_STATUS.has(status) && exchange.wouldRetry(leg)) {
      this.discarding = true;
      return;
    }
    if (!exchange.commit(leg, leg.pod, status, headers)) leg.abandon(new Error('the exchange moved on'));
  }

  onData(_leg: UpstreamLeg, chunk: Buffer): boolean {
    return this.discarding || this.exchange!.relay(chunk);
  }

  onEnd(upstream: UpstreamLeg): void {
    const leg = upstream as PodAttempt;
    const exchange = this.exchange!;
    if (this.discarding) {
      exchange.attemptFailed(leg, new RouterError('upstream_unavailable', `${leg.label} answered ${this.status}`), 'retryable');
    } else {
      exchange.completed(leg);
    }
  }

  onFailure(upstream: UpstreamLeg, failure: LegFailure): void {
    const leg = upstream as PodAttempt;
    const exchange = this.exchange!;
    if (failure.afterHeaders && !this.discarding) exchange.brokeMidway(leg, failure.error);
    else exchange.attemptFailed(leg, failure.error, failure.kind === 'connect' || failure.kind === 'busy' ? 'connect' : 'retryable');
  }
}

/** One request to one pod. */
class PodAttempt extends UpstreamLeg implements BackendAttempt {
  readonly pod: PodEndpoint;
  private readonly pools: UpstreamPools;

  constructor(pod: PodEndpoint, pools: UpstreamPools, states: PodStateTable, listener: LegListener, request: LegRequest) {
    super(pod.origin, states, listener, request, false);
    this.pod = pod;
    this.pools = pools;
  }

  get label(): string {
    return `pod ${this.pod.podKey}`;
  }

  start(): void {
    this.dispatch(this.pools.get(this.pod.origin), this.pools.connectionWaitMs);
  }
}
