// Records a routing decision while the real code makes it: matchRoute and the scheduler call these methods as they
// go (RouteTrace, ScheduleTrace), and finish() turns what they said into an Explanation. A dry-run recorder (POST
// /debug/explain) makes matchRoute peek the weighted round-robin and the scheduler skip metrics and post-schedule
// state, so explaining changes nothing; a live one (x-switchyard-explain on a real request) only listens.
import type { RouterError } from '../../errors/router-error.ts';
import type { RequestFacts } from '../../routing/match-route.ts';
import { MISMATCH_BODY_MODEL, MISMATCH_NO_WEIGHT, MISMATCH_URI, type RouteTrace } from '../../routing/route-trace.ts';
import { MAX_SCORE, NEUTRAL_SCORE, STANDING } from '../../scheduling/framework/types.ts';
import type { ScheduleRequest } from '../../scheduling/pod-picker.ts';
import type { ScheduleTrace } from '../../scheduling/schedule-trace.ts';
import type { CompiledRoute, CompiledRule, CompiledTarget, PodEndpoint } from '../../snapshot/types.ts';
import type { CandidateExplanation, Explanation, FailedCondition, RuleVerdict, SchedulingExplanation, TargetWeight } from './explanation.ts';

/** STANDING values other than ok, as the explanation names them. */
const STANDING_NAMES: readonly CandidateExplanation['rankedAfter'][] = [null, 'load-bound', 'connection-limit', 'unhealthy'];

/** Header values never shown in an explanation. */
const SECRET_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key']);
const MAX_SHOWN_VALUE = 128;

export class DecisionRecorder implements RouteTrace, ScheduleTrace {
  readonly dryRun: boolean;
  private readonly facts: RequestFacts;
  private lookup: Explanation['lookup'] = null;
  private routes: string[] = [];
  private readonly rules: RuleVerdict[] = [];
  private route: CompiledRoute | null = null;
  private rule: CompiledRule | null = null;
  private target: CompiledTarget | null = null;
  private weights: TargetWeight[] | null = null;
  private request: ScheduleRequest | null = null;
  private candidates: readonly PodEndpoint[] = [];
  private scheduling: SchedulingExplanation | null = null;
  private scheduled: readonly PodEndpoint[] | null = null;
  private cacheCopy: PodEndpoint | null = null;
  /** An external provider's target: nothing is scheduled, so no ScheduleRequest carries the upstream model. */
  private providerUpstream: { readonly model: string; readonly isLora: boolean } | null = null;

  constructor(dryRun: boolean, facts: RequestFacts) {
    this.dryRun = dryRun;
    this.facts = facts;
  }

  // ---- RouteTrace ----

  lookedUp(index: Explanation['lookup'], candidates: readonly CompiledRoute[]): void {
    this.lookup = index;
    this.routes = candidates.map((r) => r.key);
  }

  ruleSkipped(route: CompiledRoute, rule: CompiledRule, mismatch: number): void {
    this.rules.push({ route: route.key, rule: rule.name, ruleIndex: rule.index, matched: false, failed: this.failedCondition(route, rule, mismatch) });
  }

  targetPicked(route: CompiledRoute, rule: CompiledRule, target: CompiledTarget | undefined, weightsBefore: readonly number[]): void {
    this.rules.push({ route: route.key, rule: rule.name, ruleIndex: rule.index, matched: target !== undefined });
    if (target === undefined) return;
    this.route = route;
    this.rule = rule;
    this.target = target;
    const picker = rule.picker!;
    const chosen = picker.items.indexOf(target);
    // A live request advanced the sequence: read where it is. A dry run did not: compute where next() would take it.
    const after = this.dryRun ? nextWeights(weightsBefore, picker.weights, chosen, picker.totalWeight) : picker.state();
    this.weights = rule.targets.map((t, i) => ({
      target: t.kind === 'server' ? t.serverKey : t.providerKey,
      kind: t.kind,
      weight: t.weight,
      current: weightsBefore[i] ?? 0,
      next: after[i] ?? 0,
      chosen: i === chosen,
    }));
  }

  /** The target is an external provider, which will be sent `upstreamModel`. */
  providerTarget(upstreamModel: string, isLora: boolean): void {
    this.providerUpstream = { model: upstreamModel, isLora };
  }

  // ---- ScheduleTrace ----

  started(request: ScheduleRequest, candidates: readonly PodEndpoint[]): void {
    this.request = request;
    this.candidates = candidates;
    this.scheduling = {
      filters: [],
      scorers: [],
      candidates: candidates.map((pod) => ({ pod: pod.podKey, origin: pod.origin, filters: {}, removedBy: null, scores: {}, total: null, healthy: null, rankedAfter: null, rank: null })),
      order: [],
    };
  }

  filtered(plugin: string, before: Uint8Array, after: Uint8Array, error: unknown): void {
    const s = this.scheduling;
    if (s === null) return;
    s.filters.push(plugin);
    s.candidates.forEach((c, i) => {
      if (before[i] === 0) return;
      const verdict = error !== null ? 'error' : after[i] !== 0 ? 'kept' : 'removed';
      c.filters[plugin] = verdict;
      if (verdict === 'removed') c.removedBy = plugin;
    });
  }

  scored(plugin: string, weight: number, alive: Uint8Array, scores: Float64Array, error: unknown, details: ReadonlyMap<number, Readonly<Record<string, number>>> | null = null): void {
    const s = this.scheduling;
    if (s === null) return;
    s.scorers.push({ plugin, weight });
    s.candidates.forEach((c, i) => {
      if (alive[i] === 0) return;
      const raw = error !== null || Number.isNaN(scores[i]) ? null : scores[i];
      const counted = raw === null ? NEUTRAL_SCORE : Math.min(MAX_SCORE, Math.max(0, raw));
      const detail = details?.get(i);
      c.scores[plugin] = detail === undefined ? { score: raw, weight, weighted: weight * counted } : { score: raw, weight, weighted: weight * counted, detail };
    });
  }

  ranked(order: readonly PodEndpoint[], totals: Float64Array, standing: Uint8Array, cacheCopy: PodEndpoint | null): void {
    const s = this.scheduling;
    if (s === null) return;
    this.scheduled = order;
    this.cacheCopy = cacheCopy;
    s.order = order.map((p) => p.podKey);
    order.forEach((pod, rank) => {
      const i = this.candidates.indexOf(pod);
      const c = s.candidates[i];
      if (c === undefined) return;
      c.rank = rank;
      c.total = totals[i];
      c.healthy = standing[i] !== STANDING.unhealthy;
      c.rankedAfter = STANDING_NAMES[standing[i]] ?? null;
    });
  }

  /** The explanation, once the decision is made; `error` is the refusal, if the request was refused. */
  finish(error: RouterError | null): Explanation {
    const notes: string[] = [];
    const target = this.target;
    const server = this.request?.server ?? null;
    if (this.dryRun && this.weights !== null && this.weights.length > 1) notes.push('the weighted round-robin was not advanced: the next real request takes the same target');
    if (server?.pdGroup !== undefined) notes.push('PD-disaggregated ModelServer: the pods shown are scheduled as one pool; prefill/decode pairing is not explained');
    const ranked = this.scheduling?.candidates.filter((c) => c.rank !== null) ?? [];
    const best = ranked.find((c) => c.rank === 0);
    const ties = best === undefined ? 0 : ranked.filter((c) => c.rankedAfter === best.rankedAfter && c.total === best.total).length;
    if (this.cacheCopy !== null) {
      notes.push(`${this.cacheCopy.podKey} is scored as if it held the prompt's cache (its total raised to the holders' cache scores): ` +
        'the prompt is cached on several pods, all above their fair share of the requests in flight (scheduler.loadBound)');
    }
    if (ties > 1) notes.push(`${ties} pods tie on the best score: the order among them is random per request`);
    return {
      dryRun: this.dryRun,
      model: this.facts.model === '' ? null : this.facts.model,
      path: this.facts.path,
      decision: error === null ? 'routed' : 'refused',
      error: error === null ? null : { status: error.status, code: error.code, message: error.message },
      lookup: this.lookup,
      routes: this.routes,
      rules: this.rules,
      route: this.route?.key ?? null,
      rule: this.rule?.name ?? null,
      target: target === null ? null : { name: target.name, kind: target.kind, key: target.kind === 'server' ? target.serverKey : target.providerKey, weight: target.weight },
      weights: this.weights,
      modelServer: server?.key ?? null,
      upstreamModel: this.request?.upstreamModel ?? this.providerUpstream?.model ?? null,
      isLora: this.request?.isLora ?? this.providerUpstream?.isLora ?? null,
      scheduling: this.scheduling,
      pod: this.scheduled?.[0]?.podKey ?? null,
      notes,
    };
  }

  private failedCondition(route: CompiledRoute, rule: CompiledRule, mismatch: number): FailedCondition {
    const match = route.resource.spec.rules[rule.index]?.modelMatch;
    if (mismatch === MISMATCH_BODY_MODEL) return { condition: 'body.model', expected: rule.bodyModel, actual: this.facts.model };
    if (mismatch === MISMATCH_URI) return { condition: 'uri', expected: match?.uri ?? null, actual: this.facts.path };
    if (mismatch === MISMATCH_NO_WEIGHT) return { condition: 'targetModels.weight', expected: 'a target with a weight above 0', actual: 'every weight is 0' };
    const header = rule.headers?.[mismatch];
    const configured = match?.headers === undefined ? undefined : Object.entries(match.headers)[mismatch];
    const name = header?.name ?? configured?.[0] ?? '?';
    return { condition: `headers.${name}`, expected: configured?.[1] ?? null, actual: shownHeader(this.facts.rawHeaders, name) };
  }
}

/** The running weights after next() chose `chosen` (nginx's smooth weighted round-robin). */
function nextWeights(before: readonly number[], weights: readonly number[], chosen: number, total: number): number[] {
  return before.map((current, i) => {
    const w = weights[i];
    if (w <= 0) return current;
    return current + w - (i === chosen ? total : 0);
  });
}

function shownHeader(rawHeaders: readonly string[], lowerName: string): string | null {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() !== lowerName) continue;
    if (SECRET_HEADERS.has(lowerName)) return '<redacted>';
    const value = rawHeaders[i + 1];
    return value.length > MAX_SHOWN_VALUE ? `${value.slice(0, MAX_SHOWN_VALUE)}…` : value;
  }
  return null;
}
