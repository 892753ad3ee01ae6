// Smooth weighted round-robin (nginx's algorithm): with weights 70/30, every 10 consecutive picks split exactly
// 7/3, interleaved rather than in runs. Weight 0 is never picked.

export class WeightedPicker<T> {
  readonly items: readonly T[];
  readonly weights: readonly number[];
  /** Equal signatures mean equal items and weights; a reloaded rule with the same signature keeps its position. */
  readonly signature: string;
  private readonly current: Float64Array;
  private readonly total: number;

  constructor(items: readonly T[], weights: readonly number[], signature: string) {
    if (items.length !== weights.length) throw new Error('items and weights differ in length');
    this.items = items;
    this.weights = weights;
    this.signature = signature;
    this.current = new Float64Array(items.length);
    let total = 0;
    for (const w of weights) total += w;
    this.total = total;
  }

  get totalWeight(): number {
    return this.total;
  }

  next(): T | undefined {
    const { current, weights, items } = this;
    let best = -1;
    for (let i = 0; i < items.length; i++) {
      const w = weights[i];
      if (w <= 0) continue;
      current[i] += w;
      if (best < 0 || current[i] > current[best]) best = i;
    }
    if (best < 0) return undefined;
    current[best] -= this.total;
    return items[best];
  }

  /** What next() would return now, changing nothing (explanations must not move the sequence). */
  peek(): T | undefined {
    const { current, weights, items } = this;
    let best = -1;
    for (let i = 0; i < items.length; i++) {
      const w = weights[i];
      if (w <= 0) continue;
      if (best < 0 || current[i] + w > current[best] + weights[best]) best = i;
    }
    return best < 0 ? undefined : items[best];
  }

  /** The current running weights, for debugging and explanations. */
  state(): readonly number[] {
    return Array.from(this.current);
  }
}

/**
 * Keeps pickers alive across snapshot rebuilds: a rule whose targets and weights did not change keeps its picker
 * (and so its place in the sequence); a changed rule starts fresh. Unused entries are dropped on each build.
 */
export class WeightedPickerRegistry {
  private pickers = new Map<string, WeightedPicker<unknown>>();
  private nextPickers: Map<string, WeightedPicker<unknown>> | null = null;

  beginBuild(): void {
    this.nextPickers = new Map();
  }

  obtain<T>(ruleKey: string, items: readonly T[], weights: readonly number[], signature: string): WeightedPicker<T> {
    if (!this.nextPickers) throw new Error('beginBuild() first');
    const existing = this.pickers.get(ruleKey);
    const picker =
      existing && existing.signature === signature
        ? (existing as WeightedPicker<T>)
        : new WeightedPicker<T>(items, weights, signature);
    this.nextPickers.set(ruleKey, picker);
    return picker;
  }

  /** Call when the built snapshot is swapped in. */
  commitBuild(): void {
    if (this.nextPickers) this.pickers = this.nextPickers;
    this.nextPickers = null;
  }

  /** Call when the built snapshot is thrown away: the live pickers stay. */
  abortBuild(): void {
    this.nextPickers = null;
  }
}
