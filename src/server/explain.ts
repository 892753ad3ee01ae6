// Routing explanations. POST /debug/explain answers, without sending anything upstream and without moving any state
// (the weighted round-robin is peeked, post-schedule hooks and metrics are skipped), the decision the router would
// make now for a request; a real request carrying x-switchyard-explain (with --allow-explain-header) gets the
// summary of its own decision in a response header. Both run resolveRoute and the picker with a DecisionRecorder:
// the same code as every request.
import { RouterError } from '../errors/router-error.ts';
import { DecisionRecorder } from '../observability/explain/decision-recorder.ts';
import type { Explanation } from '../observability/explain/explanation.ts';
import type { PathPolicy } from '../routing/path-policy.ts';
import type { PodPicker, ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { SnapshotStore } from '../snapshot/snapshot-store.ts';
import { providerPath } from '../proxy/provider-backend.ts';
import { parseRequestBody, type ParsedBody } from './inference-handler.ts';
import { resolveRoute } from '../pipeline/resolve-route.ts';

export interface ExplainDeps {
  readonly store: SnapshotStore;
  readonly picker: PodPicker;
  /** The router's POST path policy (--allow-path): a path it refuses is explained as refused. */
  readonly pathPolicy: PathPolicy;
}

export type ExplainResult = { readonly ok: true; readonly explanation: Explanation } | { readonly ok: false; readonly message: string };

/**
 * `input`: {"path": "/v1/chat/completions", "headers": {"x-user": "a"}, "body": {"model": …, "messages": …}};
 * path defaults to /v1/chat/completions, headers to none.
 */
export function explainRequest(deps: ExplainDeps, input: unknown): ExplainResult | Promise<ExplainResult> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return invalid('the request body must be a JSON object {"path","headers","body"}');
  const { path = '/v1/chat/completions', headers = {}, body } = input as { path?: unknown; headers?: unknown; body?: unknown };
  if (typeof path !== 'string' || !path.startsWith('/v1/')) return invalid('"path" must be an inference path such as /v1/chat/completions');
  const rawHeaders = toRawHeaders(headers);
  if (rawHeaders === null) return invalid('"headers" must be an object of header names to strings (or lists of strings)');
  if (body === undefined) return invalid('"body" is required: the inference request body');

  const queryAt = path.indexOf('?');
  const facts = { model: '', path: queryAt < 0 ? path : path.slice(0, queryAt), rawHeaders };
  // As the listener refuses it, before the body is read.
  if (!deps.pathPolicy.allows(facts.path)) {
    return { ok: true, explanation: new DecisionRecorder(true, facts).finish(new RouterError('not_found', `no route for POST ${facts.path}`)) };
  }
  let parsed: ParsedBody;
  try {
    parsed = parseRequestBody(Buffer.from(JSON.stringify(body)));
  } catch (err) {
    if (!(err instanceof RouterError)) throw err;
    return { ok: true, explanation: new DecisionRecorder(true, facts).finish(err) };
  }
  const model = parsed.model as string;
  const recorder = new DecisionRecorder(true, { ...facts, model });
  const snapshot = deps.store.snapshot;
  if (snapshot === null) return { ok: true, explanation: recorder.finish(new RouterError('not_ready', 'the router has no configuration yet')) };

  const routed = resolveRoute(snapshot, { ...facts, model }, recorder);
  if (!routed.ok) return { ok: true, explanation: recorder.finish(routed.error) };
  const { server, isLora, upstreamModel } = routed;
  if (server === null) {
    // A provider: nothing to schedule; a path its API does not have is refused before anything is sent.
    recorder.providerTarget(upstreamModel, isLora);
    const providerPathOrError = providerPath(routed.provider, path);
    return { ok: true, explanation: recorder.finish(providerPathOrError instanceof RouterError ? providerPathOrError : null) };
  }
  const request: ScheduleRequest = { model, upstreamModel, isLora, server, rawHeaders, path: facts.path, body: parsed };
  const preparing = deps.picker.prepare?.(request, server.pods) ?? null;
  if (preparing !== null) return preparing.then(() => explainScheduled(deps, request, recorder));
  return explainScheduled(deps, request, recorder);
}

function explainScheduled(deps: ExplainDeps, request: ScheduleRequest, recorder: DecisionRecorder): ExplainResult {
  const { server } = request;
  const pods = deps.picker.schedule(request, server.pods, recorder);
  const error = pods.length > 0 ? null : new RouterError('pods_overloaded', `every pod of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`);
  return { ok: true, explanation: recorder.finish(error) };
}

function toRawHeaders(headers: unknown): string[] | null {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return null;
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    const values = Array.isArray(value) ? (value as unknown[]) : [value];
    for (const v of values) {
      if (typeof v !== 'string' && typeof v !== 'number') return null;
      // As Node hands a request's header bytes to the router: one Latin-1 character per UTF-8 byte.
      raw.push(name, Buffer.from(String(v), 'utf8').toString('latin1'));
    }
  }
  return raw;
}

function invalid(message: string): ExplainResult {
  return { ok: false, message };
}
