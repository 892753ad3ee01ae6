// Optional recorder of a scheduling decision, for explanations: the picker reports every filter's verdict, every
// score plugin's scores and the final ranking as it computes them. The hot path passes null (one check per plugin).
// Masks and score arrays are the picker's scratch space: read the first candidates.length entries during the call,
// never keep them.
import type { PodEndpoint } from '../snapshot/types.ts';
import type { ScheduleRequest } from './pod-picker.ts';

export interface ScheduleTrace {
  /** Explaining only: nothing is remembered for post-schedule hooks and no metrics are recorded. */
  readonly dryRun: boolean;
  started(request: ScheduleRequest, candidates: readonly PodEndpoint[]): void;
  /** `before`/`after`: 1 while a candidate is still in; a filter that threw has its removals undone (`error` set). */
  filtered(plugin: string, before: Uint8Array, after: Uint8Array, error: unknown): void;
  /** Raw scores of the candidates still in (NaN: no opinion, counted as the neutral 50), before weighting. */
  scored(plugin: string, weight: number, alive: Uint8Array, scores: Float64Array, error: unknown, details?: ReadonlyMap<number, Readonly<Record<string, number>>> | null): void;
  /**
   * The final order, with each candidate's weighted total and standing (STANDING: what ranks it after others);
   * `cacheCopy`: the pod scored as holding the prompt to take a copy of a hot prefix (its total raised), or null.
   */
  ranked(order: readonly PodEndpoint[], totals: Float64Array, standing: Uint8Array, cacheCopy: PodEndpoint | null): void;
}
