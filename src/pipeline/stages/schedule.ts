// Stage 6, schedule: the scheduler ranks the ModelServer's pods (the first is its choice, the rest the retry order),
// or, for a prefill/decode ModelServer, plans decode/prefill pairs. An external provider is not scheduled. Plugins
// that need work first (kvcache-aware tokenizing the prompt) get it done before, the one wait of this stage; the fast
// path has none.
import { RouterError } from '../../errors/router-error.ts';
import { setExplainHeader } from '../../observability/explain/summary.ts';
import { connectorName } from '../../proxy/connectors/index.ts';
import { PdPairPlanner } from '../../scheduling/pd-pairs.ts';
import type { ScheduleRequest } from '../../scheduling/pod-picker.ts';
import type { ExchangeOutcome } from '../../proxy/exchange.ts';
import type { CompiledServer, PodEndpoint } from '../../snapshot/types.ts';
import type { RequestContext } from '../context.ts';
import { responseNotFound } from '../stored-responses.ts';
import type { StageResult } from '../run.ts';

export function schedule(ctx: RequestContext): StageResult {
  const server = ctx.server;
  if (server === null) return undefined; // an ExternalModelProvider: nothing to schedule
  if (ctx.storedResponse !== null) return toStoringPod(ctx, server);
  const request: ScheduleRequest = {
    model: ctx.model, upstreamModel: ctx.upstreamModel, isLora: ctx.isLora, server, rawHeaders: ctx.req.rawHeaders, path: ctx.pathOnly, body: ctx.parsed!, client: ctx,
  };
  ctx.scheduleRequest = request;
  const preparing = ctx.deps.picker.prepare?.(request, server.pods) ?? null;
  if (preparing !== null) return preparing.then(() => rank(ctx, request));
  return rank(ctx, request);
}

/** The APIs that generate, whose requests a PD-disaggregated ModelServer splits into a prefill and a decode. */
const PD_PATHS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/messages']);
/**
 * nixl and mooncake: the APIs whose answers carry kv_transfer_params (vLLM's Responses and Messages answers have no
 * such field, so their prefill could never hand its KV over).
 */
const TRANSFER_PARAMS_PATHS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions']);

/**
 * A Responses request continuing a stored response (previous_response_id): its decode pod stores that response, a
 * prefill pod does not (it would answer 404), so one decode pod serves it, the storing one first.
 */
function continuesStoredResponse(ctx: RequestContext): boolean {
  return ctx.pathOnly === RESPONSES_PATH && typeof ctx.parsed?.previous_response_id === 'string';
}

/** Whether `path` on the PD-disaggregated `server` is served by a prefill/decode pair (else by one decode pod). */
function splitsIntoPair(server: CompiledServer, path: string): boolean {
  const connector = connectorName(server);
  return (connector === 'nixl' || connector === 'mooncake' ? TRANSFER_PARAMS_PATHS : PD_PATHS).has(path);
}

function rank(ctx: RequestContext, request: ScheduleRequest): undefined | RouterError {
  const server = request.server;
  // Every Responses answer's id is learnt (rememberResponseOwner), a pair's too: its decode pod stores the response.
  if (ctx.pathOnly === RESPONSES_PATH && ctx.deps.responseOwners != null) ctx.learnResponseId = true;
  if (server.pd !== null && splitsIntoPair(server, ctx.pathOnly) && !continuesStoredResponse(ctx)) {
    const pairs = new PdPairPlanner(ctx.deps.picker, request);
    if (pairs.noGroupHasBothRoles) return noPdPair(server);
    if (pairs.next() === null) {
      return new RouterError('pods_overloaded', `every prefill/decode pair of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`);
    }
    ctx.pairs = pairs;
    return undefined;
  }
  // A request that generates nothing (embeddings, count_tokens), or whose answer cannot carry the connector's
  // kv_transfer_params, has no prefill to hand over: one decode pod serves it (computing the prompt itself).
  let candidates = server.pods;
  if (server.pd !== null) {
    candidates = server.pd.decodePods;
    if (candidates.length === 0) return noPdPair(server);
  }
  let pods = ctx.deps.picker.schedule(request, candidates, ctx.trace);
  if (ctx.pathOnly === RESPONSES_PATH) pods = withResponseOwnerFirst(ctx, candidates, pods);
  if (pods.length === 0) {
    const error = new RouterError('pods_overloaded', `every pod of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`);
    setExplainHeader(ctx.res, ctx.trace, ctx.explain, error);
    return error;
  }
  if (ctx.explain !== null) setExplainHeader(ctx.res, ctx.trace, ctx.explain, null);
  ctx.pods = pods;
  return undefined;
}

const RESPONSES_PATH = '/v1/responses';

/**
 * A Responses request naming a `previous_response_id` this router relayed goes to the pod that stores that response
 * (vLLM keeps it in that instance's memory), even past the scheduler's filters; the scheduler's order stays the
 * fallback should that pod fail. Every Responses answer's id is learnt (rememberResponseOwner).
 */
function withResponseOwnerFirst(ctx: RequestContext, candidates: readonly PodEndpoint[], pods: readonly PodEndpoint[]): readonly PodEndpoint[] {
  const owners = ctx.deps.responseOwners;
  if (owners == null) return pods;
  const previous = ctx.parsed?.previous_response_id;
  const ownerKey = typeof previous === 'string' ? owners.ownerOf(previous)?.podKey : undefined;
  if (ownerKey === undefined || pods[0]?.podKey === ownerKey) return pods;
  const owner = candidates.find((pod) => pod.podKey === ownerKey);
  return owner === undefined ? pods : [owner, ...pods.filter((pod) => pod !== owner)];
}

/** Response side: a completed Responses answer from a pod (or a background one left): remember which pod stores it. */
export function rememberResponseOwner(ctx: RequestContext, outcome: ExchangeOutcome): void {
  const background = ctx.parsed?.background === true;
  // A background response generates on at the pod when its client leaves (its stream is resumable): it is kept.
  // `store: false`: the pod keeps nothing to come back to.
  if (!ctx.learnResponseId || ctx.parsed?.store === false || outcome.error !== null || (outcome.clientAborted && !background)) return;
  const id = outcome.responseId;
  if (id == null || (outcome.pod === null && ctx.provider === null)) return;
  // A background response is answered queued, before it generates (or its stream was left): no usage yet to charge.
  const outputUnmetered = background && outcome.usage === null;
  const user = ctx.identity?.user ?? null;
  const owner = outcome.pod !== null
    ? { podKey: outcome.pod.podKey, server: ctx.server?.key ?? '', model: ctx.model, user, outputUnmetered }
    : { podKey: '', server: '', provider: ctx.provider!.key, model: ctx.model, user, outputUnmetered };
  ctx.deps.responseOwners?.remember(id, owner);
}

/** A request on a stored response goes to the pod that stored it, whatever its state: no other pod has it. */
function toStoringPod(ctx: RequestContext, server: CompiledServer): undefined | RouterError {
  const podKey = ctx.storedOwner!.podKey;
  const pod = server.pods.find((candidate) => candidate.podKey === podKey);
  if (pod === undefined) return responseNotFound(ctx.storedResponse!.id, `pod ${podKey}, which stored it, is not a ready pod of ModelServer ${server.key}`);
  ctx.pods = [pod];
  return undefined;
}

function noPdPair(server: CompiledServer): RouterError {
  return new RouterError('no_pd_pair', `ModelServer ${server.key} has no PD group (pods with label ${server.pd?.groupKey}) with both a ready prefill pod and a ready decode pod`);
}
