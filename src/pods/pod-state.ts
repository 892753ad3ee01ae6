// Live, per-upstream state that outlives snapshots: requests in flight through this router and health.
// Keyed by origin ("http://ip:port"), the thing a connection actually goes to.

export interface HealthPolicy {
  /** First passive back-off after a connection failure; doubles per consecutive failure. */
  readonly baseBackoffMs: number;
  readonly maxBackoffMs: number;
}

export const DEFAULT_HEALTH_POLICY: HealthPolicy = { baseBackoffMs: 1000, maxBackoffMs: 30_000 };

export class PodLiveState {
  readonly origin: string;
  inFlight = 0;
  /** Passive health: skip until this time (ms since epoch) after connection failures. */
  unhealthyUntil = 0;
  consecutiveFailures = 0;
  /** Active health: the last /health probe failed. */
  probeFailed = false;
  lastError: string | null = null;

  constructor(origin: string) {
    this.origin = origin;
  }

  isHealthy(now: number): boolean {
    return !this.probeFailed && now >= this.unhealthyUntil;
  }
}

/** An active probe's verdict changed: `error` says why it failed (null when it passes again). */
export type ProbeChangeListener = (origin: string, healthy: boolean, error: string | null) => void;

export class PodStateTable {
  private readonly states = new Map<string, PodLiveState>();
  private readonly policy: HealthPolicy;
  private probeListener: ProbeChangeListener | null = null;

  constructor(policy: HealthPolicy = DEFAULT_HEALTH_POLICY) {
    this.policy = policy;
  }

  /** Called when a pod starts failing its /health probes, and when it passes again (for the log). */
  onProbeChange(listener: ProbeChangeListener): void {
    this.probeListener = listener;
  }

  get(origin: string): PodLiveState {
    let state = this.states.get(origin);
    if (state === undefined) {
      state = new PodLiveState(origin);
      this.states.set(origin, state);
    }
    return state;
  }

  peek(origin: string): PodLiveState | undefined {
    return this.states.get(origin);
  }

  /** A connection to the pod failed: skip it for a back-off that grows with consecutive failures. */
  reportConnectFailure(origin: string, error: string, now = Date.now()): void {
    const state = this.get(origin);
    state.consecutiveFailures++;
    const backoff = Math.min(this.policy.baseBackoffMs * 2 ** (state.consecutiveFailures - 1), this.policy.maxBackoffMs);
    state.unhealthyUntil = now + backoff;
    state.lastError = error;
  }

  reportSuccess(origin: string): void {
    const state = this.states.get(origin);
    if (state === undefined || state.consecutiveFailures === 0) return;
    state.consecutiveFailures = 0;
    state.unhealthyUntil = 0;
    state.lastError = null;
  }

  reportProbe(origin: string, ok: boolean, error: string | null): void {
    const state = this.get(origin);
    const changed = state.probeFailed === ok;
    state.probeFailed = !ok;
    if (ok) {
      state.consecutiveFailures = 0;
      state.unhealthyUntil = 0;
      state.lastError = null;
    } else {
      state.lastError = error;
    }
    if (changed) this.probeListener?.(origin, ok, ok ? null : error);
  }

  /**
   * Forget upstreams that left the configuration. One with requests still in flight is kept until a later call finds
   * it idle: a pod that comes back meanwhile (a readiness flap under load) must not count its running requests as 0.
   */
  retain(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const [origin, state] of this.states) if (!origins.has(origin) && state.inFlight === 0) this.states.delete(origin);
  }
}
