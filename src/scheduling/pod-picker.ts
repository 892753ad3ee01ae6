// The one interface between routing and proxying for choosing pods. Today's default is least-in-flight; the
// model-aware filter/score framework plugs in behind the same call.
import type { CompiledServer, PodEndpoint } from '../snapshot/types.ts';

export interface ScheduleRequest {
  /** The request's model name as the client sent it. */
  readonly model: string;
  /** The model name the pod will see (spec.model for non-LoRA requests). */
  readonly upstreamModel: string;
  readonly isLora: boolean;
  readonly server: CompiledServer;
  readonly rawHeaders: readonly string[];
}

export interface PodPicker {
  /**
   * Candidates in the order to try them: the first is the choice, the rest are the retry order.
   * Empty when no candidate may be used.
   */
  schedule(request: ScheduleRequest, candidates: readonly PodEndpoint[]): readonly PodEndpoint[];
}
