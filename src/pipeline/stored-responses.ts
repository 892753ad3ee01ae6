// Requests on one stored Responses API response (routing/stored-response-path.ts) through the pipeline: the parse
// stage finds the response's owner (pod or OpenAI provider, model, caller) instead of reading a body; the stages
// then route, authorise and schedule them as that model's request, pinned to that pod (or sent to that provider). They run no inference: no rate limit, no fair queue,
// and the usage in the stored response they fetch is not counted again, but for a background response's output,
// which its creation could not count: charged when the response is first fetched done.
import { RouterError } from '../errors/router-error.ts';
import type { ExchangeOutcome } from '../proxy/exchange.ts';
import type { ResponseOwner } from '../scheduling/response-owners.ts';
import type { RequestContext } from './context.ts';
import type { StageResult } from './run.ts';

/** vLLM's answer for an unknown response id, with why the router has none when it knows. */
export function responseNotFound(id: string, why?: string): RouterError {
  return new RouterError('response_not_found', `Response with id '${id}' not found${why === undefined ? '.' : `: ${why}.`}`);
}

/** How long a request waits for the replicas' shared record (Redis) of a response it names. */
const SHARED_LOOKUP_TIMEOUT_MS = 500;

/** Parse stage for a stored-response request: the owner this replica (or, with Redis, any replica) learnt, or 404. */
export function parseStoredResponseRequest(ctx: RequestContext): StageResult {
  const target = ctx.storedResponse!;
  const owners = ctx.deps.responseOwners;
  if (owners == null) return responseNotFound(target.id);
  const owner = owners.ownerOf(target.id);
  if (owner !== undefined) {
    // A background response not charged yet here may have been charged by another replica since.
    if (owner.outputUnmetered && owners.shared !== null) return owners.refreshUnmetered(target.id, owner, SHARED_LOOKUP_TIMEOUT_MS).then(() => withOwner(ctx, owner));
    return withOwner(ctx, owner);
  }
  if (owners.shared === null) return responseNotFound(target.id);
  return owners.find(target.id, SHARED_LOOKUP_TIMEOUT_MS).then((found) => {
    if (!found.ok) return new RouterError('response_index_unavailable', `cannot tell which pod stores response ${target.id}: ${found.reason}`);
    return found.owner === undefined ? responseNotFound(target.id) : withOwner(ctx, found.owner);
  });
}

/**
 * Parse stage of a Responses request naming a `previous_response_id` this replica does not know: the shared record
 * is read first (within the lookup's time; a failure leaves the request to be scheduled as usual), so that the
 * schedule stage finds the owner here. Undefined when there is nothing to wait for.
 */
export function lookUpPreviousResponse(ctx: RequestContext, previous: unknown): Promise<undefined> | undefined {
  const owners = ctx.deps.responseOwners;
  if (typeof previous !== 'string' || owners?.shared == null || owners.ownerOf(previous) !== undefined) return undefined;
  return owners.find(previous, SHARED_LOOKUP_TIMEOUT_MS).then(() => undefined);
}

function withOwner(ctx: RequestContext, owner: ResponseOwner): undefined {
  const target = ctx.storedResponse!;
  ctx.storedOwner = owner;
  ctx.model = ctx.record.model = owner.model;
  ctx.method = ctx.req.method ?? 'GET';
  // GET /v1/responses/{id}?stream=true replays a background response's events.
  const queryAt = ctx.path.indexOf('?');
  ctx.stream = target.action === 'retrieve' && queryAt >= 0 && new URLSearchParams(ctx.path.slice(queryAt + 1)).get('stream') === 'true';
  return undefined;
}

/** Authenticate stage: a response stored for an authenticated caller is that caller's alone (others get 404). */
export function storedResponseVisible(ctx: RequestContext): undefined | RouterError {
  const owner = ctx.storedOwner;
  if (owner === null || owner.user === null || owner.user === (ctx.identity?.user ?? null)) return undefined;
  return responseNotFound(ctx.storedResponse!.id);
}

/**
 * Authenticate stage of a Responses request: a `previous_response_id` made by another authenticated caller is not
 * found, as its GET is (continuing it would show them that conversation).
 */
export function previousResponseVisible(ctx: RequestContext): undefined | RouterError {
  const previous = ctx.parsed?.previous_response_id;
  if (typeof previous !== 'string') return undefined;
  const owner = ctx.deps.responseOwners?.ownerOf(previous);
  if (owner === undefined || owner.user === null || owner.user === (ctx.identity?.user ?? null)) return undefined;
  return responseNotFound(previous);
}

/**
 * Response side of a stored-response request: the usage in what it fetched counts for nothing (it was counted when
 * the response was made), except a background response's output tokens the first time it comes back done: those go
 * to the route's rate limit now (chargeOutputTokens), and to this request's access-log line and metrics.
 */
export function storedResponseOutcome(ctx: RequestContext, outcome: ExchangeOutcome): ExchangeOutcome {
  const owner = ctx.storedOwner;
  const usage = outcome.usage;
  if (owner === null || !owner.outputUnmetered || usage == null || outcome.error !== null || outcome.status < 200 || outcome.status >= 300) {
    return { ...outcome, usage: null, streamedEvents: 0 };
  }
  owner.outputUnmetered = false;
  ctx.deps.responseOwners?.remember(ctx.storedResponse!.id, owner); // the other replicas must not charge it again
  const limiter = ctx.deps.rateLimiter;
  if (limiter != null && limiter.active && ctx.route !== null) ctx.rateLimit = limiter.limitFor(ctx.route, ctx.model);
  return { ...outcome, usage: { promptTokens: 0, completionTokens: usage.completionTokens, totalTokens: usage.completionTokens }, streamedEvents: 0 };
}
