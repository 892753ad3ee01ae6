// Holds the live RoutingSnapshot. Config sources hand in whole states; a state with any error is rejected as a
// whole and the last good snapshot keeps serving. A good state is compiled beside the live one and swapped in
// with one assignment, so a request that read the old snapshot finishes on it.
import type { ConfigIssue, PodStub, SourceState } from '../resources/types.ts';
import { compileSnapshot } from './compile-snapshot.ts';
import { PodTracker, type PodChanges } from './pod-delta.ts';
import type { RoutingSnapshot } from './types.ts';
import { WeightedPickerRegistry } from './weighted-picker.ts';

export type ApplyResult =
  | { accepted: true; snapshot: RoutingSnapshot; issues: ConfigIssue[] }
  | { accepted: false; issues: ConfigIssue[] };

/** `podsOnly`: the swap comes from pod changes alone (routes, servers' specs and providers are the previous ones). */
export type SwapListener = (next: RoutingSnapshot, previous: RoutingSnapshot | null, podsOnly: boolean) => void;

export class SnapshotStore {
  private current: RoutingSnapshot | null = null;
  private generation = 0;
  private readonly pickers = new WeightedPickerRegistry();
  private readonly listeners: SwapListener[] = [];
  private readonly pods = new PodTracker();

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
    const pods: PodStub[] = [];
    for (const { resource } of state.resources) if (resource.kind === 'Pod') pods.push(resource);
    this.pods.reset(compiled.snapshot, pods);
    this.swap(compiled.snapshot, false);
    return { accepted: true, snapshot: compiled.snapshot, issues };
  }

  /**
   * Pod-only changes (a source that tracks pods one by one): only the ModelServers selecting a changed pod are
   * rebuilt; the rest of the snapshot is shared. Returns the new snapshot, or null when nothing routable changed.
   * Before the first accepted state there is nothing to change: the changes are dropped (the full state brings them).
   */
  applyPodChanges(changes: PodChanges): RoutingSnapshot | null {
    if (this.current === null) return null;
    const next = this.pods.apply(this.current, changes, this.generation + 1);
    if (next === null) return null;
    this.generation++;
    this.swap(next, true);
    return next;
  }

  private swap(next: RoutingSnapshot, podsOnly: boolean): void {
    const previous = this.current;
    this.current = next;
    for (const listener of this.listeners) listener(next, previous, podsOnly);
  }
}
