// Request facts + snapshot → which route, rule and target serve the request (Kthena's MatchModelTarget semantics).
import type { CompiledRoute, CompiledRule, CompiledTarget, RoutingSnapshot } from '../snapshot/types.ts';

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

export function matchRoute(snapshot: RoutingSnapshot, facts: RequestFacts): RouteDecision {
  let isLora = false;
  let candidates = snapshot.routesByModel.get(facts.model);
  if (candidates === undefined) {
    candidates = snapshot.routesByLora.get(facts.model);
    if (candidates === undefined) return NO_MATCH;
    isLora = true;
  }
  // Oldest route first; a route none of whose rules match hands over to the next one.
  for (let r = 0; r < candidates.length; r++) {
    const route = candidates[r];
    for (let i = 0; i < route.rules.length; i++) {
      const rule = route.rules[i];
      if (rule.picker === null || !ruleMatches(rule, facts)) continue;
      const target = rule.picker.next();
      if (target !== undefined) return { matched: true, route, rule, target, isLora };
    }
  }
  return NO_MATCH;
}

export function ruleMatches(rule: CompiledRule, facts: RequestFacts): boolean {
  if (rule.bodyModel !== null && rule.bodyModel !== facts.model) return false;
  const headers = rule.headers;
  if (headers !== null) {
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i];
      if (!h.match(firstHeaderValue(facts.rawHeaders, h.name))) return false;
    }
  }
  if (rule.uri !== null && !rule.uri(facts.path)) return false;
  return true;
}

/** First value of a header (case-insensitive name), "" when absent, like Go's Header.Get. */
export function firstHeaderValue(rawHeaders: readonly string[], lowerName: string): string {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return rawHeaders[i + 1];
  }
  return '';
}
