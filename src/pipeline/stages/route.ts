// Stage 3, route: ModelRoute, rule, target and ModelServer for the request's model (resolve-route.ts, shared with
// /debug/explain), and the body the pods will get: `model` rewritten for non-LoRA requests, and
// stream_options.include_usage added to chat/completions streams so that token usage can be read (hidden from the client).
import { RouterError } from '../../errors/router-error.ts';
import { DecisionRecorder } from '../../observability/explain/decision-recorder.ts';
import { explainRequested, setExplainHeader } from '../../observability/explain/summary.ts';
import { editTopLevel, type BodyEdit } from '../../proxy/json-body.ts';
import { streamUsageEdit } from '../../proxy/usage-request.ts';
import type { CompiledProvider, CompiledServer, RoutingSnapshot } from '../../snapshot/types.ts';
import type { RequestContext } from '../context.ts';
import { resolveRoute } from '../resolve-route.ts';
import type { StageResult } from '../run.ts';
import { responseNotFound } from '../stored-responses.ts';

export function route(ctx: RequestContext): StageResult {
  const { deps, record, model } = ctx;
  const snapshot = deps.store.snapshot;
  if (snapshot === null) return new RouterError('not_ready', 'the router has no configuration yet');
  const facts = { model, path: ctx.pathOnly, rawHeaders: ctx.req.rawHeaders };
  if (deps.allowExplainHeader) {
    ctx.explain = explainRequested(ctx.req.rawHeaders);
    if (ctx.explain !== null) ctx.trace = new DecisionRecorder(false, facts);
  }
  // A follow-up goes to the ModelServer whose pod stores the response it continues (weights, header rules aside).
  const previousServer = ctx.pathOnly === RESPONSES_PATH ? previousOwnerServer(ctx, snapshot.servers) : null;
  // Requests that go to the storing ModelServer take no turn of the route's weights: other requests keep their split.
  const pinned = ctx.storedResponse !== null || previousServer !== null;
  const routed = resolveRoute(snapshot, facts, ctx.trace, pinned);
  if (!routed.ok) {
    // The target the route picked cannot serve (no ready pod, not ready provider): one that goes elsewhere, to the
    // storing ModelServer, does not need it.
    const matched = routed.matched;
    if (matched === null && ctx.storedResponse !== null) {
      // No rule matched this request (its rules match headers the SDK's retrieve or cancel does not send): the model
      // is still routed, which is all a request on a response it stored needs.
      const routes = snapshot.routesByModel.get(model) ?? snapshot.routesByLora.get(model);
      if (routes !== undefined) {
        ctx.route = record.route = routes[0];
        ctx.isLora = !snapshot.routesByModel.has(model);
        return toStoringServer(ctx, snapshot);
      }
    }
    if (matched === null || (ctx.storedResponse === null && previousServer === null)) {
      setExplainHeader(ctx.res, ctx.trace, ctx.explain, routed.error);
      return routed.error;
    }
    ctx.route = record.route = matched.route;
    ctx.rule = record.rule = matched.rule;
    ctx.isLora = matched.isLora;
    if (ctx.storedResponse !== null) return toStoringServer(ctx, snapshot);
    return toServer(ctx, previousServer, null, upstreamModelOf(previousServer!, matched.isLora, model));
  }
  ctx.route = record.route = routed.route;
  ctx.rule = record.rule = routed.rule;
  ctx.isLora = routed.isLora;
  if (ctx.storedResponse !== null) return toStoringServer(ctx, snapshot);
  if (routed.server === null || previousServer === null || previousServer === routed.server) {
    if (pinned && routed.server === null) routed.rule.picker?.next(); // sent to the provider peeked: its turn is taken
    return toServer(ctx, routed.server, routed.provider, routed.upstreamModel);
  }
  return toServer(ctx, previousServer, null, upstreamModelOf(previousServer, routed.isLora, model));
}

/** The model name a ModelServer's pods see: spec.model, unless the request names a LoRA adapter. */
function upstreamModelOf(server: CompiledServer, isLora: boolean, model: string): string {
  return !isLora && server.model !== undefined ? server.model : model;
}

/** The request goes to `server` (or `provider`) as `upstreamModel`: the body the pods will get. */
function toServer(ctx: RequestContext, server: CompiledServer | null, provider: CompiledProvider | null, upstreamModel: string): undefined {
  const { record, model } = ctx;
  ctx.server = record.server = server;
  ctx.provider = record.provider = provider;
  ctx.upstreamModel = record.upstreamModel = upstreamModel;
  const body = ctx.clientBody;
  let edits: BodyEdit[] | null = null;
  if (upstreamModel !== model) edits = [{ key: 'model', value: upstreamModel }];
  // Streams: learn token usage; a usage-only event the router asked for is hidden from this client.
  const usageEdit = ctx.stream ? streamUsageEdit(ctx.pathOnly, body, ctx.parsed?.stream_options) : null;
  if (usageEdit !== null) {
    (edits ??= []).push(usageEdit);
    ctx.hideUsage = true;
  }
  ctx.body = edits === null ? body : editTopLevel(body, edits);
  return undefined;
}

const RESPONSES_PATH = '/v1/responses';

/** The ModelServer of the pod storing the response a Responses request continues (previous_response_id), if known. */
function previousOwnerServer(ctx: RequestContext, servers: RoutingSnapshot['servers']): CompiledServer | null {
  const previous = ctx.parsed?.previous_response_id;
  if (typeof previous !== 'string') return null;
  const owner = ctx.deps.responseOwners?.ownerOf(previous);
  const server = owner === undefined ? undefined : servers.get(owner.server);
  // Without a ready pod it stores nothing any more: the follow-up goes where the route sends it.
  return server === undefined || server.pods.length === 0 ? null : server;
}

/**
 * A request on a stored response (routed above only to check its model is still served) goes to the provider that
 * stored it, or to the ModelServer whose pod stored it, whichever target the route would pick now (weights, header rules), with the client's body as is.
 */
function toStoringServer(ctx: RequestContext, snapshot: RoutingSnapshot): undefined | RouterError {
  const { id } = ctx.storedResponse!;
  const owner = ctx.storedOwner!;
  if (owner.provider !== undefined) {
    // Stored by an OpenAI provider (its own store, reached with the router's credential).
    const provider = snapshot.providers.get(owner.provider);
    if (provider === undefined) return responseNotFound(id, `ExternalModelProvider ${owner.provider}, which stored it, no longer exists`);
    if (provider.notReady !== null) return new RouterError('provider_not_ready', provider.notReady);
    ctx.server = ctx.record.server = null;
    ctx.provider = ctx.record.provider = provider;
    ctx.upstreamModel = ctx.record.upstreamModel = ctx.model;
    ctx.body = ctx.clientBody;
    return undefined;
  }
  const server = snapshot.servers.get(owner.server);
  if (server === undefined) return responseNotFound(id, `ModelServer ${owner.server}, whose pod stored it, no longer exists`);
  ctx.server = ctx.record.server = server;
  ctx.provider = ctx.record.provider = null;
  ctx.upstreamModel = ctx.record.upstreamModel = ctx.isLora || server.model === undefined ? ctx.model : server.model;
  ctx.body = ctx.clientBody;
  return undefined;
}
