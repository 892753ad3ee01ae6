// Time for the engine simulator: the real clock in a running mock, a virtual one that unit tests drive by hand.
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `fn` after `ms` (0 or less: on a later event-loop turn). Returns a function that cancels the call. */
  schedule(ms: number, fn: () => void): () => void;
}

/** performance.now and Node timers; a delay under 1 ms becomes one event-loop turn (setImmediate). */
export const realClock: Clock = {
  now: () => performance.now(),
  schedule(ms, fn) {
    if (ms < 1) {
      const immediate = setImmediate(fn);
      return () => clearImmediate(immediate);
    }
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

interface VirtualTimer {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that only moves inside run(): timers fire in time order, ties in the order they were scheduled. */
export class VirtualClock implements Clock {
  #now = 0;
  #order = 0;
  #timers: VirtualTimer[] = [];

  now(): number {
    return this.#now;
  }

  schedule(ms: number, fn: () => void): () => void {
    const timer: VirtualTimer = { at: this.#now + Math.max(0, ms), order: this.#order++, fn, cancelled: false };
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Fires due timers, moving time forward, until none is left or the next one is later than `untilMs`. */
  run(untilMs = Number.POSITIVE_INFINITY): number {
    for (let fired = 0; ; fired++) {
      if (fired > 10_000_000) throw new Error('VirtualClock.run: too many timers, is something rescheduling forever?');
      this.#timers = this.#timers.filter((timer) => !timer.cancelled);
      let next: VirtualTimer | undefined;
      for (const timer of this.#timers) {
        if (next === undefined || timer.at < next.at || (timer.at === next.at && timer.order < next.order)) next = timer;
      }
      if (next === undefined || next.at > untilMs) break;
      next.cancelled = true;
      this.#now = next.at;
      next.fn();
    }
    if (Number.isFinite(untilMs) && untilMs > this.#now) this.#now = untilMs;
    return this.#now;
  }
}
