// Request facts + snapshot → which route, rule and target serve the request (Kthena's MatchModelTarget semantics).
import type { CompiledRoute, CompiledRule, CompiledTarget, RoutingSnapshot } from '../snapshot/types.ts';
import { MISMATCH_BODY_MODEL, MISMATCH_NO_WEIGHT, MISMATCH_URI, RULE_MATCHES, type RouteTrace } from './route-trace.ts';

export interface RequestFacts {
  /** The body's "model". */
  readonly model: string;
  /** URL path without the query string. */
  readonly path: string;
  /** Node's raw header list [name, value, name, value, …]; the first value of a header is the one matched. */
  readonly rawHeaders: readonly string[];
}

export type RouteDecision =
  | {
      readonly matched: true;
      readonly route: CompiledRoute;
      readonly rule: CompiledRule;
      readonly target: CompiledTarget;
      /** The model was found among loraAdapters (not modelName): it is not rewritten. */
      readonly isLora: boolean;
    }
  | { readonly matched: false };

const NO_MATCH: RouteDecision = { matched: false };

/**
 * `trace` (explanations only; null on the hot path) hears every step; a dry-run trace peeks the round-robin, and so
 * does `peek` (a request that may not go to the target: it takes no turn).
 */
export function matchRoute(snapshot: RoutingSnapshot, facts: RequestFacts, trace: RouteTrace | null = null, peek = false): RouteDecision {
  let isLora = false;
  let candidates = snapshot.routesByModel.get(facts.model);
  if (candidates === undefined) {
    candidates = snapshot.routesByLora.get(facts.model);
    if (candidates === undefined) {
      trace?.lookedUp(null, []);
      return NO_MATCH;
    }
    isLora = true;
  }
  if (trace !== null) trace.lookedUp(isLora ? 'loraAdapters' : 'modelName', candidates);
  // Oldest route first; a route none of whose rules match hands over to the next one.
  for (let r = 0; r < candidates.length; r++) {
    const route = candidates[r];
    for (let i = 0; i < route.rules.length; i++) {
      const rule = route.rules[i];
      const mismatch = rule.picker === null ? MISMATCH_NO_WEIGHT : ruleMismatch(rule, facts);
      if (mismatch !== RULE_MATCHES) {
        if (trace !== null) trace.ruleSkipped(route, rule, mismatch);
        continue;
      }
      const picker = rule.picker!;
      let target: CompiledTarget | undefined;
      if (trace === null) {
        target = peek ? picker.peek() : picker.next();
      } else {
        const before = picker.state();
        target = trace.dryRun || peek ? picker.peek() : picker.next();
        trace.targetPicked(route, rule, target, before);
      }
      if (target !== undefined) return { matched: true, route, rule, target, isLora };
    }
  }
  return NO_MATCH;
}

export function ruleMatches(rule: CompiledRule, facts: RequestFacts): boolean {
  return ruleMismatch(rule, facts) === RULE_MATCHES;
}

/** RULE_MATCHES, or the first condition that fails: MISMATCH_BODY_MODEL, a header's index, MISMATCH_URI. */
export function ruleMismatch(rule: CompiledRule, facts: RequestFacts): number {
  if (rule.bodyModel !== null && rule.bodyModel !== facts.model) return MISMATCH_BODY_MODEL;
  const headers = rule.headers;
  if (headers !== null) {
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i];
      if (!h.match(firstHeaderValue(facts.rawHeaders, h.name))) return i;
    }
  }
  if (rule.uri !== null && !rule.uri(facts.path)) return MISMATCH_URI;
  return RULE_MATCHES;
}

/** First value of a header (case-insensitive name), "" when absent, like Go's Header.Get. */
export function firstHeaderValue(rawHeaders: readonly string[], lowerName: string): string {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return rawHeaders[i + 1];
  }
  return '';
}
