// Request facts + snapshot → route, rule, ModelServer and the model name the pods will see, or the error that
// refuses the request. Shared by the request pipeline and POST /debug/explain, so an explanation takes the very
// same path as a real request (with a trace, which is null on the hot path).
import { RouterError } from '../errors/router-error.ts';
import { matchRoute, type RequestFacts } from '../routing/match-route.ts';
import type { RouteTrace } from '../routing/route-trace.ts';
import type { CompiledProvider, CompiledRoute, CompiledRule, CompiledServer, RoutingSnapshot } from '../snapshot/types.ts';

interface Resolved {
  readonly ok: true;
  readonly route: CompiledRoute;
  readonly rule: CompiledRule;
  /** The model was found among loraAdapters: it is not rewritten. */
  readonly isLora: boolean;
  /** spec.model (of the ModelServer or the provider; a provider target's own model first) for non-LoRA requests when set, else the request's model. */
  readonly upstreamModel: string;
}

export type ResolvedRoute =
  | (Resolved & { readonly server: CompiledServer; readonly provider: null })
  | (Resolved & { readonly server: null; readonly provider: CompiledProvider })
  | { readonly ok: false; readonly error: RouterError; readonly matched: TargetRefused | null };

/** A route and rule matched, but the target they picked cannot take the request (ModelServer or provider state). */
export interface TargetRefused {
  readonly route: CompiledRoute;
  readonly rule: CompiledRule;
  readonly isLora: boolean;
}

/** `peek`: the weighted round-robin is not moved (the caller takes the turn if it does send the request there). */
export function resolveRoute(snapshot: RoutingSnapshot, facts: RequestFacts, trace: RouteTrace | null = null, peek = false): ResolvedRoute {
  const model = facts.model;
  const decision = matchRoute(snapshot, facts, trace, peek);
  if (!decision.matched) return refused('model_not_found', `The model \`${model}\` does not exist.`, null);
  const { route, rule, target, isLora } = decision;
  const matched = { route, rule, isLora };
  if (target.kind === 'provider') {
    const provider = snapshot.providers.get(target.providerKey);
    if (provider === undefined) return refused('provider_not_found', `ExternalModelProvider ${target.providerKey} not found`, matched);
    if (provider.notReady !== null) return refused('provider_not_ready', provider.notReady, matched);
    return { ok: true, route, rule, server: null, provider, isLora, upstreamModel: target.model ?? provider.model ?? model };
  }
  const server = snapshot.servers.get(target.serverKey);
  if (server === undefined) return refused('model_server_not_found', `ModelServer ${target.serverKey} not found`, matched);
  if (server.pods.length === 0) return refused('no_ready_pods', `no ready pods for ModelServer ${server.key}`, matched);
  const upstreamModel = !isLora && server.model !== undefined ? server.model : model;
  return { ok: true, route, rule, server, provider: null, isLora, upstreamModel };
}

function refused(code: ConstructorParameters<typeof RouterError>[0], message: string, matched: TargetRefused | null): ResolvedRoute {
  return { ok: false, error: new RouterError(code, message), matched };
}
