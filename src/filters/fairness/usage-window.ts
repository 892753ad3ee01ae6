// Each user's weighted token usage and request count per model over a sliding window of 1-second buckets (Kthena's
// token tracker): usage = input × inputWeight + output × outputWeight. Reads and writes prune expired buckets, and a
// user whose window emptied is forgotten: when read, and by a sweep of every user once a window (users are
// client-chosen with userHeader; one seen once must not be kept forever).

interface Bucket {
  second: number;
  tokens: number;
  requests: number;
}

class Series {
  readonly buckets: Bucket[] = [];
  tokens = 0;
  requests = 0;

  prune(cutoff: number): void {
    let drop = 0;
    while (drop < this.buckets.length && (this.buckets[drop]).second < cutoff) {
      const bucket = this.buckets[drop];
      this.tokens -= bucket.tokens;
      this.requests -= bucket.requests;
      drop++;
    }
    if (drop > 0) this.buckets.splice(0, drop);
    if (this.buckets.length === 0) {
      this.tokens = 0;
      this.requests = 0;
    }
  }
}

export interface UsageWeights {
  readonly windowMs: number;
  readonly inputTokenWeight: number;
  readonly outputTokenWeight: number;
}

export class UsageWindow {
  private readonly byModel = new Map<string, Map<string, Series>>();
  private weights: UsageWeights;
  private readonly now: () => number;
  private nextSweepAt = 0;

  constructor(weights: UsageWeights, now: () => number = Date.now) {
    this.weights = weights;
    this.now = now;
  }

  /** New weights and window apply to usage recorded from now on (a reload keeps what was recorded). */
  configure(weights: UsageWeights): void {
    this.weights = weights;
  }

  /** Users with usage kept, over every model. */
  get trackedUsers(): number {
    let count = 0;
    for (const users of this.byModel.values()) count += users.size;
    return count;
  }

  record(user: string, model: string, inputTokens: number, outputTokens: number): void {
    this.sweep();
    const weighted = Math.max(0, inputTokens) * this.weights.inputTokenWeight + Math.max(0, outputTokens) * this.weights.outputTokenWeight;
    let users = this.byModel.get(model);
    if (users === undefined) this.byModel.set(model, (users = new Map<string, Series>()));
    let series = users.get(user);
    if (series === undefined) users.set(user, (series = new Series()));
    const second = Math.floor(this.now() / 1000);
    series.prune(this.cutoff());
    const last = series.buckets[series.buckets.length - 1];
    if (last !== undefined && last.second === second) {
      last.tokens += weighted;
      last.requests++;
    } else {
      series.buckets.push({ second, tokens: weighted, requests: 1 });
    }
    series.tokens += weighted;
    series.requests++;
  }

  /** Weighted tokens and request count of `user` on `model` within the window. */
  usage(user: string, model: string): { tokens: number; requests: number } {
    const users = this.byModel.get(model);
    const series = users?.get(user);
    if (users === undefined || series === undefined) return { tokens: 0, requests: 0 };
    series.prune(this.cutoff());
    if (series.buckets.length === 0) {
      users.delete(user);
      if (users.size === 0) this.byModel.delete(model);
      return { tokens: 0, requests: 0 };
    }
    return { tokens: series.tokens, requests: series.requests };
  }

  /** Once a window: forgets every user whose window emptied (usage() forgets only the users it reads). */
  private sweep(): void {
    const now = this.now();
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + this.weights.windowMs;
    const cutoff = this.cutoff();
    for (const [model, users] of this.byModel) {
      for (const [user, series] of users) {
        series.prune(cutoff);
        if (series.buckets.length === 0) users.delete(user);
      }
      if (users.size === 0) this.byModel.delete(model);
    }
  }

  private cutoff(): number {
    return Math.floor((this.now() - this.weights.windowMs) / 1000);
  }
}
