// The one interface between routing and proxying for choosing pods. The default is the model-aware filter/score
// framework (framework/framework-picker.ts); LeastRequestPicker is the simple fallback behind the same call.
import type { CompiledServer, PodEndpoint } from '../snapshot/types.ts';
import type { ScheduleTrace } from './schedule-trace.ts';

export interface ScheduleRequest {
  /** The request's model name as the client sent it. */
  readonly model: string;
  /** The model name the pod will see (spec.model for non-LoRA requests). */
  readonly upstreamModel: string;
  readonly isLora: boolean;
  readonly server: CompiledServer;
  readonly rawHeaders: readonly string[];
  /** The request's path without its query (which API the body speaks); absent: unknown. */
  readonly path?: string;
  /** The parsed JSON request body (read, never modified): plugins take the prompt or messages from it. */
  readonly body?: Readonly<Record<string, unknown>>;
  /**
   * The request's lifecycle: `ended` once its client left (asynchronous work for it can stop), `signal` aborts then
   * (read it only to start such work: it is created on first use); absent: unknown.
   */
  readonly client?: { readonly ended: boolean; readonly signal?: AbortSignal } | null;
  /** PD-disaggregated ModelServers: which role the candidates play (each role is scheduled on its own). */
  readonly pdRole?: 'prefill' | 'decode';
  /** The picker's own state between schedule() and served() (the framework picker's scheduling cycle). */
  pickerState?: object | null;
}

export interface PodPicker {
  /**
   * Work to await before schedule() (e.g. tokenizing the prompt through an engine), or null when there is none:
   * the fast path allocates nothing. Never rejects.
   */
  prepare?(request: ScheduleRequest, candidates: readonly PodEndpoint[]): Promise<void> | null;
  /**
   * Candidates in the order to try them: the first is the choice, the rest are the retry order.
   * Empty when no candidate may be used (every pod filtered out: overloaded).
   * `trace` (explanations only; absent or null on the hot path) hears every filter, score and the ranking.
   */
  schedule(request: ScheduleRequest, candidates: readonly PodEndpoint[], trace?: ScheduleTrace | null): readonly PodEndpoint[];
  /**
   * Post-schedule hook: `request` (the object given to schedule) was served successfully by `pod`.
   * Lets plugins learn from the outcome, e.g. prefix-cache remembers which pod holds the prompt's prefix.
   */
  served?(request: ScheduleRequest, pod: PodEndpoint): void;
}
