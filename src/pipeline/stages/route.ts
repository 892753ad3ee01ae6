// Stage 3, route: ModelRoute, rule, target and ModelServer for the request's model (resolve-route.ts, shared with
// /debug/explain), and the body the pods will get: `model` rewritten for non-LoRA requests, and
// stream_options.include_usage added to chat/completions streams so that token usage can be read (hidden from the client).
import { RouterError } from '../../errors/router-error.ts';
import { DecisionRecorder } from '../../observability/explain/decision-recorder.ts';
import { explainRequested, setExplainHeader } from '../../observability/explain/summary.ts';
import { editTopLevel, type BodyEdit } from '../../proxy/json-body.ts';
import { streamUsageEdit } from '../../proxy/usage-request.ts';
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
  const { server, provider, upstreamModel } = routed;
  ctx.route = record.route = routed.route;
  ctx.rule = record.rule = routed.rule;
  ctx.server = record.server = server;
  ctx.provider = record.provider = provider;
  ctx.upstreamModel = record.upstreamModel = upstreamModel;
  ctx.isLora = routed.isLora;

  const body = ctx.clientBody;
  if (ctx.storedResponse !== null) {
    // Sent as the client sent it (no body, or cancel's); only a pod can have stored it.
    if (provider !== null) return responseNotFound(ctx.storedResponse.id, `model ${model} is now served by ExternalModelProvider ${provider.key}`);
    ctx.body = body;
    return undefined;
  }
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
