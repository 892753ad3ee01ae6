// Stage 3, route: ModelRoute, rule, target and ModelServer for the request's model (resolve-route.ts, shared with
// /debug/explain), and the body the pods will get: `model` rewritten for non-LoRA requests, and
// stream_options.include_usage added to streams so that token usage can be read (hidden from the client).
import { RouterError } from '../../errors/router-error.ts';
import { DecisionRecorder } from '../../observability/explain/decision-recorder.ts';
import { explainRequested, setExplainHeader } from '../../observability/explain/summary.ts';
import { editTopLevel, scanTopLevelMembers, type BodyEdit } from '../../proxy/json-body.ts';
import type { RequestContext } from '../context.ts';
import { resolveRoute } from '../resolve-route.ts';
import type { StageResult } from '../run.ts';
import { isObject } from './parse.ts';

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
  const { server, upstreamModel } = routed;
  ctx.route = record.route = routed.route;
  ctx.rule = record.rule = routed.rule;
  ctx.server = record.server = server;
  ctx.upstreamModel = record.upstreamModel = upstreamModel;
  ctx.isLora = routed.isLora;

  const body = ctx.clientBody;
  let edits: BodyEdit[] | null = null;
  if (upstreamModel !== model) edits = [{ key: 'model', value: upstreamModel }];
  if (ctx.stream) {
    const options = ctx.parsed?.stream_options;
    const asked = isObject(options) && options.include_usage === true;
    if (!asked) {
      // Learn token usage from the stream; the extra usage-only event is hidden from this client.
      (edits ??= []).push(includeUsageEdit(body, options));
      ctx.hideUsage = true;
    }
  }
  ctx.body = edits === null ? body : editTopLevel(body, edits);
  return undefined;
}

/**
 * Sets stream_options.include_usage, keeping the client's other options. Their bytes are spliced, not re-serialised:
 * JSON.stringify overflows the stack on deeply nested values that JSON.parse accepted.
 */
function includeUsageEdit(body: Buffer, options: unknown): BodyEdit {
  const member = isObject(options) ? scanTopLevelMembers(body)?.members.findLast((m) => m.key === 'stream_options') : undefined;
  if (member === undefined) return { key: 'stream_options', value: { include_usage: true } };
  const current = body.subarray(member.valueStart, member.valueEnd);
  return { key: 'stream_options', json: editTopLevel(current, [{ key: 'include_usage', value: true }]).toString('utf8') };
}
