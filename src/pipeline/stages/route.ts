// Stage 3, route: ModelRoute, rule, target and ModelServer for the request's model (resolve-route.ts, shared with
// /debug/explain), and the body the pods will get: `model` rewritten for non-LoRA requests, and
// stream_options.include_usage added to chat/completions streams so that token usage can be read (hidden from the client).
import { RouterError } from '../../errors/router-error.ts';
import { DecisionRecorder } from '../../observability/explain/decision-recorder.ts';
import { explainRequested, setExplainHeader } from '../../observability/explain/summary.ts';
import { editTopLevel, type BodyEdit } from '../../proxy/json-body.ts';
import { streamUsageEdit } from '../../proxy/usage-request.ts';
import type { CompiledServer, RoutingSnapshot } from '../../snapshot/types.ts';
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
  const routed = resolveRoute(snapshot, facts, ctx.trace);
  if (!routed.ok) {
    setExplainHeader(ctx.res, ctx.trace, ctx.explain, routed.error);
    return routed.error;
  }
  const { provider } = routed;
  // A follow-up goes to the ModelServer whose pod stores the response it continues (weights, header rules aside).
  const server = routed.server !== null && ctx.pathOnly === RESPONSES_PATH ? previousOwnerServer(ctx, snapshot.servers) ?? routed.server : routed.server;
  const upstreamModel = server === routed.server ? routed.upstreamModel : !routed.isLora && server?.model !== undefined ? server.model : model;
  ctx.route = record.route = routed.route;
  ctx.rule = record.rule = routed.rule;
  ctx.server = record.server = server;
  ctx.provider = record.provider = provider;
  ctx.upstreamModel = record.upstreamModel = upstreamModel;
  ctx.isLora = routed.isLora;

  const body = ctx.clientBody;
  if (ctx.storedResponse !== null) return toStoringServer(ctx, snapshot.servers);
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
  return owner === undefined ? null : servers.get(owner.server) ?? null;
}

/**
 * A request on a stored response (routed above only to check its model is still served) goes to the ModelServer whose
 * pod stored it, whichever target the route would pick now (weights, header rules), with the client's body as is.
 */
function toStoringServer(ctx: RequestContext, servers: RoutingSnapshot['servers']): undefined | RouterError {
  const { id } = ctx.storedResponse!;
  const owner = ctx.storedOwner!;
  const server = servers.get(owner.server);
  if (server === undefined) return responseNotFound(id, `ModelServer ${owner.server}, whose pod stored it, no longer exists`);
  ctx.server = ctx.record.server = server;
  ctx.provider = ctx.record.provider = null;
  ctx.upstreamModel = ctx.record.upstreamModel = ctx.isLora || server.model === undefined ? ctx.model : server.model;
  ctx.body = ctx.clientBody;
  return undefined;
}
