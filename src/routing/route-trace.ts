// Optional recorder of a route decision, for explanations (POST /debug/explain, the x-switchyard-explain header).
// matchRoute reports each step to it as the step is taken, so an explanation is the real decision, not a replay.
// The hot path passes null: one null check per rule, nothing allocated.
import type { CompiledRoute, CompiledRule, CompiledTarget } from '../snapshot/types.ts';

/** ruleMismatch() results: a header's index in rule.headers (>= 0), or one of these. */
export const RULE_MATCHES = -1;
export const MISMATCH_BODY_MODEL = -2;
export const MISMATCH_URI = -3;
/** Every target of the rule has weight 0: the rule never matches. */
export const MISMATCH_NO_WEIGHT = -4;

export interface RouteTrace {
  /** Explaining only: the weighted round-robin is peeked, never advanced. */
  readonly dryRun: boolean;
  /** The model was looked up in this index (null: in neither) and these routes are the candidates, oldest first. */
  lookedUp(index: 'modelName' | 'loraAdapters' | null, candidates: readonly CompiledRoute[]): void;
  /** `rule` did not match; `mismatch` says which condition failed (see the constants above). */
  ruleSkipped(route: CompiledRoute, rule: CompiledRule, mismatch: number): void;
  /** `rule` matched and its smooth weighted round-robin chose `target`; `weightsBefore` are its running weights before. */
  targetPicked(route: CompiledRoute, rule: CompiledRule, target: CompiledTarget | undefined, weightsBefore: readonly number[]): void;
}
