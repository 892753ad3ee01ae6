// The filter/score scheduler behind the PodPicker interface, after Kthena's scheduler_impl.go:
//   1. filters run in order, each removing pods; if none is left the result is empty (the handler answers 503);
//   2. every score plugin scores the remaining pods 0-100 (a pod it did not score gets the neutral 50) and the
//      weighted sum ranks them, best first, ties broken at random;
//   3. pods above the profile's load bound (factor x their fair share of the requests in flight, plus slack) go
//      after the others (except that a prompt cached on several pods that are all busy is given to one more pod, as
//      if it held the cache: a hot prefix gets another copy instead of a queue), then pods already holding as many requests as the router opens connections to one pod (a
//      request sent there would wait in the connection pool), and unhealthy pods (passive back-off or failed
//      probe) go last, as in LeastRequestPicker;
//   4. the whole ordered list is returned: the first pod is the choice, the next ones are the retry order.
// Scores go into typed arrays owned by the picker and reused by every request; nothing is compiled per request.
import type { PodStateTable } from '../../pods/pod-state.ts';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { PodPicker, ScheduleRequest } from '../pod-picker.ts';
import type { ScheduleTrace } from '../schedule-trace.ts';
import { SchedulingCycle } from './cycle.ts';
import type { SchedulerObserver } from './observer.ts';
import { MAX_SCORE, NEUTRAL_SCORE, STANDING, type LoadBound, type SchedulerPlugin, type SchedulerProfile } from './types.ts';

export interface FrameworkPickerOptions {
  readonly podStates: PodStateTable;
  /** In [0, 1); breaks ties. */
  readonly random?: () => number;
  /** A plugin threw: the request goes on as if the plugin had no opinion (filter: removed nothing). */
  readonly onPluginError?: (plugin: string, stage: 'filter' | 'score' | 'served' | 'prepare', error: unknown) => void;
  /** Metrics: every plugin call is timed only when this is set. */
  readonly observer?: SchedulerObserver | null;
  /** Requests in flight at which a pod counts as full: the connections the router opens to one pod. */
  readonly maxInFlightPerPod?: number;
}

const EMPTY: readonly PodEndpoint[] = Object.freeze([]);
/** Cache-affinity totals within this fraction of the best count as holding the prompt (a block more or less). */
const CACHE_TIE = 0.05;

export class FrameworkPicker implements PodPicker {
  private current: SchedulerProfile;
  private readonly podStates: PodStateTable;
  private readonly random: () => number;
  private readonly onPluginError: FrameworkPickerOptions['onPluginError'];
  private readonly observer: SchedulerObserver | null;
  private readonly maxInFlightPerPod: number;
  // Scratch space reused by every call (schedule() runs to completion before the next one starts).
  private alive = new Uint8Array(16);
  private aliveBackup = new Uint8Array(16);
  private totals = new Float64Array(16);
  /** The part of totals from cache-affinity plugins (prefix-cache, kvcache-aware). */
  private cached = new Float64Array(16);
  private loads = new Float64Array(16);
  private scores = new Float64Array(16);
  private ties = new Float64Array(16);
  private penalties = new Uint8Array(16);
  private order = new Int32Array(16);
  /** The pod given a copy of a hot prefix by the last rank(), or -1. */
  private replica = -1;

  constructor(profile: SchedulerProfile, options: FrameworkPickerOptions) {
    this.current = profile;
    this.podStates = options.podStates;
    this.random = options.random ?? Math.random;
    this.onPluginError = options.onPluginError;
    this.observer = options.observer ?? null;
    this.maxInFlightPerPod = options.maxInFlightPerPod ?? Infinity;
  }

  get profile(): SchedulerProfile {
    return this.current;
  }

  /** Swaps in a new configuration; requests already scheduled keep their own profile's hooks. */
  setProfile(profile: SchedulerProfile): void {
    const previous = this.current;
    this.current = profile;
    // Instances the new profile did not keep (their args changed, or they left it) are done with.
    for (const plugin of previous.plugins) {
      if (!profile.plugins.includes(plugin)) plugin.retire?.();
    }
  }

  prepare(request: ScheduleRequest, candidates: readonly PodEndpoint[]): Promise<void> | null {
    let pending: Promise<void>[] | null = null;
    for (const { plugin } of this.current.scores) {
      if (plugin.prepare === undefined) continue;
      let work: Promise<void> | null;
      try {
        work = plugin.prepare(request, candidates);
      } catch (err) {
        this.report(plugin, 'prepare', err);
        continue;
      }
      if (work !== null) (pending ??= []).push(work.catch((err: unknown) => this.report(plugin, 'prepare', err)));
    }
    return pending === null ? null : Promise.all(pending).then(() => undefined);
  }

  schedule(request: ScheduleRequest, candidates: readonly PodEndpoint[], trace: ScheduleTrace | null = null): readonly PodEndpoint[] {
    const n = candidates.length;
    if (n === 0) return EMPTY;
    const profile = this.current;
    const dryRun = trace !== null && trace.dryRun;
    // Explaining is not traffic: it is neither timed nor counted.
    const observer = dryRun ? null : this.observer;
    const cycle = new SchedulingCycle(request, Date.now(), profile, observer);
    if (trace !== null) trace.started(request, candidates);
    this.reserve(n);
    const { alive, totals, scores } = this;
    alive.fill(1, 0, n);

    const backup = this.aliveBackup;
    // Plugin timing: one clock reading per plugin, each plugin's time running from the previous reading.
    let clock = observer !== null ? performance.now() : 0;
    for (const filter of profile.filters) {
      for (let i = 0; i < n; i++) backup[i] = alive[i];
      let failure: unknown = null;
      try {
        filter.filter!(cycle, candidates, alive);
      } catch (err) {
        for (let i = 0; i < n; i++) alive[i] = backup[i];
        this.report(filter, 'filter', err);
        failure = err;
      }
      if (observer !== null) clock = this.timed(observer, request.model, filter.name, 'filter', clock);
      if (trace !== null) trace.filtered(filter.name, backup, alive, failure);
      if (countAlive(alive, n) === 0) return EMPTY;
    }

    const cached = this.cached;
    totals.fill(0, 0, n);
    cached.fill(0, 0, n);
    for (const { plugin, weight } of profile.scores) {
      if (weight === 0) continue;
      scores.fill(NaN, 0, n);
      if (trace !== null) cycle.details = new Map();
      let failure: unknown = null;
      try {
        plugin.score!(cycle, candidates, alive, scores);
      } catch (err) {
        scores.fill(NaN, 0, n);
        this.report(plugin, 'score', err);
        failure = err;
      }
      if (observer !== null) clock = this.timed(observer, request.model, plugin.name, 'score', clock);
      if (trace !== null) trace.scored(plugin.name, weight, alive, scores, failure, cycle.details);
      const cacheAffinity = plugin.cacheAffinity === true;
      for (let i = 0; i < n; i++) {
        if (alive[i] === 0) continue;
        const s = scores[i];
        const weighted = weight * (Number.isNaN(s) ? NEUTRAL_SCORE : Math.min(MAX_SCORE, Math.max(0, s)));
        totals[i] += weighted;
        if (cacheAffinity) cached[i] += weighted;
      }
    }

    const result = this.rank(candidates, n, cycle.now, profile.loadBound ?? null);
    if (trace !== null) trace.ranked(result, totals, this.penalties, this.replica >= 0 ? candidates[this.replica] : null);
    if (!dryRun && result.length > 0) {
      cycle.picked = result[0];
      for (const { plugin } of profile.scores) {
        if (plugin.picked === undefined) continue;
        try {
          plugin.picked(cycle, result[0]);
        } catch (err) {
          this.report(plugin, 'served', err);
        }
      }
    }
    // The cycle awaits the post-schedule hooks on the request object itself (it goes with the request).
    if (profile.hooks.length > 0 && !dryRun) request.pickerState = cycle;
    return result;
  }

  served(request: ScheduleRequest, pod: PodEndpoint): void {
    const cycle = request.pickerState;
    if (!(cycle instanceof SchedulingCycle)) return;
    request.pickerState = null;
    for (const hook of cycle.profile.hooks) {
      try {
        hook.served!(cycle, pod);
      } catch (err) {
        this.report(hook, 'served', err);
      }
    }
  }

  /** Forwards a change of the configured pods to every plugin that keeps per-pod state. */
  retain(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const plugin of this.current.plugins) plugin.retain?.(origins);
  }

  /** Reports the time since `since` as the plugin's duration; returns the clock reading it took. */
  private timed(observer: SchedulerObserver, model: string, plugin: string, type: 'filter' | 'score', since: number): number {
    const now = performance.now();
    observer.pluginDuration(model, plugin, type, (now - since) / 1000);
    return now;
  }

  /** Alive pods by standing (STANDING: within the load bound first, unhealthy last), then total score, then at random. */
  private rank(candidates: readonly PodEndpoint[], n: number, now: number, loadBound: LoadBound | null): PodEndpoint[] {
    const { alive, ties, penalties, order, loads } = this;
    let m = 0;
    let inFlight = 0;
    this.replica = -1;
    for (let i = 0; i < n; i++) {
      if (alive[i] === 0) continue;
      order[m++] = i;
      ties[i] = this.random();
      const state = this.podStates.peek(candidates[i].origin);
      if (state === undefined) {
        penalties[i] = STANDING.ok;
        loads[i] = 0;
        continue;
      }
      inFlight += state.inFlight;
      loads[i] = state.inFlight;
      penalties[i] = !state.isHealthy(now) ? STANDING.unhealthy : state.inFlight >= this.maxInFlightPerPod ? STANDING.atConnectionLimit : STANDING.ok;
    }
    if (m > 1 && loadBound !== null) {
      // The affinity scores (prefix, KV cache, adapter) would otherwise pile a hot prefix's whole load on one pod.
      const fairShare = (inFlight + 1) / m;
      const bound = loadBound.factor * fairShare + loadBound.slack;
      for (let k = 0; k < m; k++) {
        const i = order[k];
        if (penalties[i] === STANDING.ok && loads[i] + 1 > bound) penalties[i] = STANDING.overLoadBound;
      }
      if (m > 2) this.addCacheCopy(m, fairShare, loadBound.slack);
    }
    if (m > 1) order.subarray(0, m).sort(this.compare);
    const result = new Array<PodEndpoint>(m);
    for (let k = 0; k < m; k++) result[k] = candidates[order[k]];
    return result;
  }

  /**
   * A prompt cached on two pods or more is a shared prefix, not one conversation's history: when every pod holding
   * it is above its fair share and `slack` requests above the least busy pod without it, that pod is scored as a
   * holder (one prefill there makes it one), so the hot prefix spreads instead of queueing on its holders. A prompt
   * on one pod is never moved this way: its history would be computed again.
   */
  private addCacheCopy(m: number, fairShare: number, slack: number): void {
    const { order, cached, loads, penalties } = this;
    let top = 0;
    for (let k = 0; k < m; k++) top = Math.max(top, cached[order[k]]);
    if (top <= 0) return;
    const holderFloor = top * (1 - CACHE_TIE);
    let holders = 0;
    let leastHolderLoad = Infinity;
    let spare = -1;
    for (let k = 0; k < m; k++) {
      const i = order[k];
      if (penalties[i] === STANDING.unhealthy) continue; // an unhealthy holder serves nothing: it is not a copy
      if (cached[i] >= holderFloor) {
        holders++;
        leastHolderLoad = Math.min(leastHolderLoad, loads[i]);
      } else if (penalties[i] === STANDING.ok && (spare < 0 || loads[i] < loads[spare])) {
        spare = i;
      }
    }
    if (holders < 2 || spare < 0 || leastHolderLoad <= fairShare || leastHolderLoad - loads[spare] < slack) return;
    this.totals[spare] += top - cached[spare];
    this.replica = spare;
  }

  private readonly compare = (a: number, b: number): number =>
    this.penalties[a] - this.penalties[b] || this.totals[b] - this.totals[a] || this.ties[a] - this.ties[b];

  private reserve(n: number): void {
    if (this.alive.length >= n) return;
    const size = Math.max(n, this.alive.length * 2);
    this.alive = new Uint8Array(size);
    this.aliveBackup = new Uint8Array(size);
    this.totals = new Float64Array(size);
    this.cached = new Float64Array(size);
    this.loads = new Float64Array(size);
    this.scores = new Float64Array(size);
    this.ties = new Float64Array(size);
    this.penalties = new Uint8Array(size);
    this.order = new Int32Array(size);
  }

  private report(plugin: SchedulerPlugin, stage: 'filter' | 'score' | 'served' | 'prepare', err: unknown): void {
    this.onPluginError?.(plugin.name, stage, err);
  }
}

function countAlive(alive: Uint8Array, n: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) count += alive[i];
  return count;
}
