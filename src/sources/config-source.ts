// What the snapshot is fed from. Files and Kubernetes implement it; nothing after the snapshot store knows which
// one runs. A source hands over whole states, never diffs, except that a source may also offer pod-only changes
// (Kubernetes pod churn) through `PodDeltaSink`, which the store applies without recompiling routes.
import type { PodStub, SourceState } from '../resources/types.ts';

export interface ConfigSource {
  readonly name: string;
  /** The initial complete state (for Kubernetes: after the initial list of every watched kind). */
  load(): Promise<SourceState>;
  /**
   * From now on `emit` gets each new complete state. Resolves once watching, with nothing changed since load() lost.
   * `pods`, when given, receives pod-only changes instead of whole states.
   */
  watch(emit: (state: SourceState) => void, pods?: PodDeltaSink): Promise<void>;
  close(): Promise<void>;
  /** Detail for /readyz (e.g. whether the Kubernetes API is reachable); absent when the source has none. */
  status?(): object;
}

/** Pod-only changes: each pod added or changed (its whole new stub), and each pod key ("namespace/name") gone. */
export interface PodDelta {
  readonly upserted: readonly PodStub[];
  readonly removed: readonly string[];
}

export type PodDeltaSink = (delta: PodDelta) => void;
