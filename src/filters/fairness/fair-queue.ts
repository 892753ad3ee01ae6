// Admission through a per-model queue, Kthena's fairness queue and session boost:
//  - fairness: requests of one user are FIFO; across users the one with the least weighted token usage in the window
//    goes first (ties: earlier arrival). Priorities are computed when the next request is picked, so they are never
//    stale (Kthena computes them at enqueue and its heap order can be inconsistent, reference §8.14).
//    Admission: at most maxConcurrent in flight per model, or (maxConcurrent 0) one admission per 1/maxQps s.
//  - session-boost: a request whose session completed a turn recently (LRU of maxSessions) goes before the others,
//    the most recent completion first; the rest FIFO. Admitted while in-flight < inflightPerPod × pods serving the
//    model (inflightPerPod when unknown) and some pod has no request waiting; busy pods are re-checked every
//    backpressurePollMs (Kthena only re-checks on events and can stall, §8.15). gracePeriodMs holds a freed slot.
// A request that waits past the timeout gets 503 queue_timeout with Retry-After. A waiter whose signal aborts leaves
// the queue at once and its promise settles; it is never admitted.
import { RouterError } from '../../errors/router-error.ts';
import type { QueueMetricSet } from '../../observability/metric-definitions.ts';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../../observability/metric-series.ts';
import type { FairnessConfig } from './fairness-config.ts';
import { SessionTracker } from './session-tracker.ts';
import { UsageWindow } from './usage-window.ts';
import { WaiterLine, type LineNode } from './waiter-line.ts';

/** Kthena's user_id label value on the fairness metrics: users collapsed into one bounded value. */
const ALL_USERS = '_all';

export interface AdmissionRequest {
  readonly model: string;
  /** The fairness key: the identity's user, else the operator's header value, else "" (one shared anonymous key). */
  readonly user: string;
  readonly sessionKey: string | null;
  /** The lowest num_requests_waiting among the model's pods at arrival; used when no backendLoad probe is given. */
  readonly podsWaiting?: number;
}

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

export interface AdmissionTicket {
  /**
   * Once, when the response ended (or the request failed after admission). `usage`: the engine's reported tokens,
   * counted toward the user's window; a non-null usage also marks the session's turn completed (session boost).
   * null: the request failed (nothing counted, session not marked). A success without reported usage should pass
   * the input estimate and 0 output rather than null.
   */
  release(usage: TokenUsage | null): void;
}

export type AdmissionResult = AdmissionTicket | RouterError;

/** Pods serving a model and the lowest waiting count among them (session boost's backpressure). */
export interface BackendLoad {
  readonly pods: number;
  readonly minWaiting: number;
}

export interface FairQueueOptions {
  readonly config: FairnessConfig;
  readonly metrics?: QueueMetricSet | null;
  /** Live view of the model's pods (the engine scrapes); without it, the last podsWaiting seen is used. */
  readonly backendLoad?: (model: string) => BackendLoad | null;
}

interface Waiter extends LineNode<Waiter> {
  readonly request: AdmissionRequest;
  readonly queue: ModelQueue;
  readonly seq: number;
  readonly enqueuedAt: number;
  readonly boostedAt: number | null;
  readonly signal: AbortSignal;
  /** The metric series it was counted in when queued: a mode switched meanwhile must not move the count. */
  readonly series: QueueSeries | null;
  resolve: (result: AdmissionResult) => void;
  onAbort: () => void;
  timer: NodeJS.Timeout | null;
}

interface QueueSeries {
  size: GaugeSeries;
  duration: HistogramSeries;
  cancelled: CounterSeries;
  dequeued: CounterSeries;
  inflight: GaugeSeries;
}

class ModelQueue {
  waiting = 0;
  inflight = 0;
  lastAdmitAt = -Infinity;
  graceUntil = 0;
  podsWaitingHint: number | null = null;
  timer: NodeJS.Timeout | null = null;
  /** Fairness mode: one FIFO line per user. */
  readonly users = new Map<string, WaiterLine<Waiter>>();
  /** Session-boost mode. */
  readonly boosted = new WaiterLine<Waiter>();
  readonly plain = new WaiterLine<Waiter>();
  fairnessSeries: QueueSeries | null = null;
  boostSeries: QueueSeries | null = null;

  readonly model: string;

  constructor(model: string) {
    this.model = model;
  }
}

export class FairQueue {
  private config: FairnessConfig;
  private readonly queues = new Map<string, ModelQueue>();
  private readonly window: UsageWindow;
  private readonly sessions: SessionTracker;
  private readonly metrics: QueueMetricSet | null;
  private readonly backendLoad: ((model: string) => BackendLoad | null) | null;
  private seq = 0;
  private userHeader: string | null = null;
  private sessionHeader = '';

  constructor(options: FairQueueOptions) {
    this.config = options.config;
    this.metrics = options.metrics ?? null;
    this.backendLoad = options.backendLoad ?? null;
    this.window = new UsageWindow(options.config);
    this.sessions = new SessionTracker(options.config.maxSessions);
    this.configure(options.config);
  }

  /** A reloaded configuration: applies to the next decisions; queued requests, usage and sessions are kept. */
  configure(config: FairnessConfig): void {
    this.config = config;
    this.window.configure(config);
    this.sessions.resize(config.maxSessions);
    this.userHeader = config.userHeader?.toLowerCase() ?? null;
    this.sessionHeader = config.sessionHeader.toLowerCase();
    for (const queue of this.queues.values()) this.dispatch(queue);
  }

  get mode(): FairnessConfig['mode'] {
    return this.config.mode;
  }

  /** Off: requests are not queued (the pipeline skips admission). Queued requests still drain after a switch to off. */
  get active(): boolean {
    return this.config.mode !== 'off';
  }

  /** The fairness key and session key of a request: the identity's user, else the operator's header, else "". */
  keysOf(identityUser: string | null, rawHeaders: readonly string[]): { user: string; sessionKey: string | null } {
    let user = identityUser;
    let sessionKey: string | null = null;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = (rawHeaders[i]).toLowerCase();
      if (user === null && name === this.userHeader) user = rawHeaders[i + 1];
      else if (name === this.sessionHeader && this.config.mode === 'session-boost') sessionKey = rawHeaders[i + 1];
    }
    return { user: user ?? '', sessionKey: sessionKey === '' ? null : sessionKey };
  }

  /** Weighted token usage and requests of `user` on `model` in the window. */
  usageOf(user: string, model: string): { tokens: number; requests: number } {
    return this.window.usage(user, model);
  }

  admit(request: AdmissionRequest, signal: AbortSignal): AdmissionResult | Promise<AdmissionResult> {
    if (signal.aborted) return cancelled();
    const queue = this.queueOf(request.model);
    if (request.podsWaiting !== undefined) queue.podsWaitingHint = request.podsWaiting;
    if (queue.waiting === 0 && this.canAdmit(queue)) {
      this.series(queue)?.duration.observe(0); // as Kthena, every admitted request has a queue-time sample
      return this.grant(queue, request, performance.now());
    }
    return new Promise((resolve) => this.enqueue(queue, request, signal, resolve));
  }

  /** Settles every waiter (503 queue_timeout) and stops the timers. */
  close(): void {
    for (const queue of this.queues.values()) {
      if (queue.timer !== null) clearTimeout(queue.timer);
      queue.timer = null;
      for (let w = this.pick(queue); w !== null; w = this.pick(queue)) this.leave(w, new RouterError('queue_timeout', 'the router is shutting down', this.retryAfter()));
    }
  }

  private queueOf(model: string): ModelQueue {
    let queue = this.queues.get(model);
    if (queue === undefined) this.queues.set(model, (queue = new ModelQueue(model)));
    return queue;
  }

  private enqueue(queue: ModelQueue, request: AdmissionRequest, signal: AbortSignal, resolve: (result: AdmissionResult) => void): void {
    const boostedAt = this.config.mode === 'session-boost' && request.sessionKey !== null ? this.sessions.completedAt(request.sessionKey) : null;
    const waiter: Waiter = {
      request, queue, seq: this.seq++, enqueuedAt: performance.now(), boostedAt, signal, resolve,
      series: this.series(queue),
      prev: null, next: null, line: null, timer: null,
      onAbort: () => this.leave(waiter, cancelled()),
    };
    if (this.config.mode === 'session-boost') {
      if (boostedAt !== null) queue.boosted.insertOrdered(waiter, (w, existing) => (w.boostedAt as number) > (existing.boostedAt as number));
      else queue.plain.push(waiter);
    } else {
      let line = queue.users.get(request.user);
      if (line === undefined) queue.users.set(request.user, (line = new WaiterLine()));
      line.push(waiter);
    }
    queue.waiting++;
    waiter.series?.size.inc();
    signal.addEventListener('abort', waiter.onAbort, { once: true });
    const timeoutMs = this.config.mode === 'session-boost' ? this.config.sessionBoostTimeoutMs : this.config.queueTimeoutMs;
    if (timeoutMs > 0) {
      waiter.timer = setTimeout(() => {
        const seconds = Math.round(timeoutMs / 100) / 10;
        this.leave(waiter, new RouterError('queue_timeout', `waited ${seconds}s in the queue for model ${request.model} without being admitted`, this.retryAfter()));
      }, timeoutMs);
    }
    this.dispatch(queue);
  }

  /** Takes a waiter out without admitting it (abort, timeout, shutdown). */
  private leave(waiter: Waiter, answer: RouterError): void {
    if (waiter.line === null) return;
    this.unlink(waiter);
    waiter.series?.cancelled.inc();
    waiter.resolve(answer);
  }

  private unlink(waiter: Waiter): void {
    const queue = waiter.queue;
    const line = waiter.line as WaiterLine<Waiter>;
    line.remove(waiter);
    if (line.size === 0 && line !== queue.boosted && line !== queue.plain) queue.users.delete(waiter.request.user);
    queue.waiting--;
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    waiter.signal.removeEventListener('abort', waiter.onAbort);
    const series = waiter.series;
    if (series !== null) {
      series.size.dec();
      series.duration.observe((performance.now() - waiter.enqueuedAt) / 1000);
    }
  }

  private dispatch(queue: ModelQueue): void {
    if (queue.timer !== null) clearTimeout(queue.timer);
    queue.timer = null;
    while (queue.waiting > 0) {
      const now = performance.now();
      if (!this.canAdmit(queue)) return this.retryLater(queue, now);
      const waiter = this.pick(queue) as Waiter;
      this.unlink(waiter);
      waiter.resolve(this.grant(queue, waiter.request, now));
    }
  }

  private canAdmit(queue: ModelQueue): boolean {
    const c = this.config;
    switch (c.mode) {
      case 'off':
        return true;
      case 'fairness':
        if (c.maxConcurrent > 0) return queue.inflight < c.maxConcurrent;
        return performance.now() - queue.lastAdmitAt >= 1000 / c.maxQps;
      case 'session-boost': {
        if (performance.now() < queue.graceUntil) return false;
        const load = this.backendLoad?.(queue.model) ?? null;
        const pods = load?.pods ?? 0;
        if (queue.inflight >= c.inflightPerPod * (pods > 0 ? pods : 1)) return false;
        const minWaiting = load !== null ? (load.pods > 0 ? load.minWaiting : 0) : (queue.podsWaitingHint ?? 0);
        return minWaiting === 0;
      }
    }
  }

  private retryLater(queue: ModelQueue, now: number): void {
    const c = this.config;
    let delay: number;
    if (c.mode === 'fairness' && c.maxConcurrent === 0) delay = queue.lastAdmitAt + 1000 / c.maxQps - now;
    else if (c.mode === 'session-boost') delay = now < queue.graceUntil ? queue.graceUntil - now : c.backpressurePollMs;
    else return; // concurrency: the next release dispatches
    queue.timer = setTimeout(() => this.dispatch(queue), Math.max(1, Math.ceil(delay)));
    queue.timer.unref();
  }

  /** The next waiter: boosted sessions, then plain FIFO (session boost); else the least-used user's oldest request. */
  private pick(queue: ModelQueue): Waiter | null {
    if (queue.boosted.first !== null) return queue.boosted.first;
    if (queue.plain.first !== null) return queue.plain.first;
    let best: Waiter | null = null;
    let bestPriority = Infinity;
    for (const [user, line] of queue.users) {
      const head = line.first as Waiter;
      const usage = this.window.usage(user, queue.model);
      const priority = this.config.priorityTokenWeight * usage.tokens + this.config.priorityRequestNumWeight * usage.requests;
      if (best === null || priority < bestPriority || (priority === bestPriority && head.seq < best.seq)) {
        best = head;
        bestPriority = priority;
      }
    }
    return best;
  }

  private grant(queue: ModelQueue, request: AdmissionRequest, now: number): AdmissionTicket {
    queue.inflight++;
    queue.lastAdmitAt = now;
    const series = this.series(queue);
    if (series !== null) {
      series.dequeued.inc();
      series.inflight.inc();
    }
    let released = false;
    return {
      release: (usage) => {
        if (released) return;
        released = true;
        queue.inflight--;
        series?.inflight.dec();
        if (usage !== null) {
          this.window.record(request.user, request.model, usage.inputTokens, usage.outputTokens);
          if (request.sessionKey !== null && this.config.mode === 'session-boost') this.sessions.markCompleted(request.sessionKey);
        }
        if (this.config.mode === 'session-boost' && this.config.gracePeriodMs > 0 && queue.waiting > 0) {
          queue.graceUntil = performance.now() + this.config.gracePeriodMs;
        }
        this.dispatch(queue);
      },
    };
  }

  private retryAfter(): string[] {
    return ['retry-after', String(this.config.retryAfterSeconds)];
  }

  private series(queue: ModelQueue): QueueSeries | null {
    const m = this.metrics;
    if (m === null) return null;
    if (this.config.mode === 'session-boost') {
      return (queue.boostSeries ??= {
        size: m.sessionBoostSize.labels(queue.model), duration: m.sessionBoostDuration.labels(queue.model),
        cancelled: m.sessionBoostCancelled.labels(queue.model), dequeued: m.sessionBoostDequeued.labels(queue.model),
        inflight: m.sessionBoostInflight.labels(queue.model),
      });
    }
    if (this.config.mode === 'off') return null;
    return (queue.fairnessSeries ??= {
      size: m.fairnessSize.labels(queue.model, ALL_USERS), duration: m.fairnessDuration.labels(queue.model, ALL_USERS),
      cancelled: m.fairnessCancelled.labels(queue.model, ALL_USERS), dequeued: m.fairnessDequeued.labels(queue.model, ALL_USERS),
      inflight: m.fairnessInflight.labels(queue.model),
    });
  }
}

function cancelled(): RouterError {
  return new RouterError('queue_timeout', 'the request was cancelled while waiting in the queue');
}
