// The shape of a routing explanation (POST /debug/explain, x-switchyard-explain): which route, which rule and why
// the earlier rules did not match, which target and its weight state, every candidate pod with each filter's verdict
// and each scorer's score, and the final order.

export interface FailedCondition {
  /** "body.model", "headers.<name>", "uri", or "targetModels.weight" (every weight is 0). */
  readonly condition: string;
  /** The rule's condition as configured (a StringMatch, a model name, …). */
  readonly expected: unknown;
  /** The request's value; null when the header is absent; "<redacted>" for credentials. */
  readonly actual: string | null;
}

export interface RuleVerdict {
  /** "namespace/name" of the ModelRoute. */
  readonly route: string;
  readonly rule: string;
  readonly ruleIndex: number;
  readonly matched: boolean;
  readonly failed?: FailedCondition;
}

export interface TargetWeight {
  readonly target: string;
  readonly kind: 'server' | 'provider';
  readonly weight: number;
  /** Smooth weighted round-robin: the running weight before this request, and after it. */
  readonly current: number;
  readonly next: number;
  readonly chosen: boolean;
}

export interface PluginScore {
  /** The plugin's raw score (0-100), null for "no opinion" (counted as the neutral 50). */
  readonly score: number | null;
  readonly weight: number;
  /** weight × the score as counted. */
  readonly weighted: number;
  /** What the plugin based the score on, when it says (kvcache-aware: matchedBlocks, promptBlocks, …). */
  readonly detail?: Readonly<Record<string, number>>;
}

export interface CandidateExplanation {
  /** "namespace/name" */
  readonly pod: string;
  readonly origin: string;
  /** Each filter that saw the pod: kept, removed, or error (the filter threw; its removals were undone). */
  readonly filters: Record<string, 'kept' | 'removed' | 'error'>;
  /** The filter that removed the pod, or null. */
  removedBy: string | null;
  readonly scores: Record<string, PluginScore>;
  /** Weighted sum of the scores; null for a removed pod. */
  total: number | null;
  /** Unhealthy pods (passive back-off, failed probe) are ranked after the healthy ones. */
  healthy: boolean | null;
  /**
   * What ranks the pod after others whatever its score: above the scheduler's load bound, at the router's
   * connection limit for one pod, unhealthy (in that order); null when nothing does, or for a removed pod.
   */
  rankedAfter: 'load-bound' | 'connection-limit' | 'unhealthy' | null;
  /** 0 = the choice; null for a removed pod. */
  rank: number | null;
}

export interface SchedulingExplanation {
  readonly filters: string[];
  readonly scorers: { plugin: string; weight: number }[];
  readonly candidates: CandidateExplanation[];
  /** Pods in the order they would be tried: the first is the choice, the others the retry order. */
  order: string[];
}

export interface Explanation {
  /** True when nothing was changed (POST /debug/explain); false for a real request explained in a header. */
  readonly dryRun: boolean;
  readonly model: string | null;
  readonly path: string;
  readonly decision: 'routed' | 'refused';
  readonly error: { status: number; code: string; message: string } | null;
  /** Where the model was found: among modelName, among loraAdapters, or nowhere (null). */
  readonly lookup: 'modelName' | 'loraAdapters' | null;
  /** Candidate routes, oldest first. */
  readonly routes: string[];
  /** Every rule evaluated, in order; the last one matched when the request was routed. */
  readonly rules: RuleVerdict[];
  readonly route: string | null;
  readonly rule: string | null;
  readonly target: { name: string; kind: 'server' | 'provider'; key: string; weight: number } | null;
  /** The matched rule's targets and their round-robin state. */
  readonly weights: TargetWeight[] | null;
  readonly modelServer: string | null;
  readonly upstreamModel: string | null;
  readonly isLora: boolean | null;
  readonly scheduling: SchedulingExplanation | null;
  /** The pod the request goes (or would go) to first. */
  readonly pod: string | null;
  readonly notes: string[];
}
