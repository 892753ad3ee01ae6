// Holds the live RoutingSnapshot. Config sources hand in whole states; a state with any error is rejected as a
// whole and the last good snapshot keeps serving. A good state is compiled beside the live one and swapped in
// with one assignment, so a request that read the old snapshot finishes on it.
import type { ConfigIssue, SourceState } from '../resources/types.ts';
import { compileSnapshot } from './compile-snapshot.ts';
import type { RoutingSnapshot } from './types.ts';
import { WeightedPickerRegistry } from './weighted-picker.ts';

export type ApplyResult =
  | { accepted: true; snapshot: RoutingSnapshot; issues: ConfigIssue[] }
  | { accepted: false; issues: ConfigIssue[] };

export type SwapListener = (next: RoutingSnapshot, previous: RoutingSnapshot | null) => void;

export class SnapshotStore {
  private current: RoutingSnapshot | null = null;
  private generation = 0;
  private readonly pickers = new WeightedPickerRegistry();
  private readonly listeners: SwapListener[] = [];

  /** The live snapshot, or null before the first good config. Read once per request. */
  get snapshot(): RoutingSnapshot | null {
    return this.current;
  }

  onSwap(listener: SwapListener): void {
    this.listeners.push(listener);
  }

  apply(state: SourceState): ApplyResult {
    const issues = [...state.issues];
    if (issues.some((i) => i.severity === 'error')) return { accepted: false, issues };
    const compiled = compileSnapshot(state.resources, this.generation + 1, this.pickers);
    issues.push(...compiled.issues);
    if (issues.some((i) => i.severity === 'error')) {
      this.pickers.abortBuild();
      return { accepted: false, issues };
    }
    this.pickers.commitBuild();
    this.generation++;
    const previous = this.current;
    this.current = compiled.snapshot;
    for (const listener of this.listeners) listener(compiled.snapshot, previous);
    return { accepted: true, snapshot: compiled.snapshot, issues };
  }
}
