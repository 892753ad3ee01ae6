// Requests on one stored Responses API response (routing/stored-response-path.ts) through the pipeline: the parse
// stage finds the response's owner (pod, model, caller) instead of reading a body; the stages then route, authorise
// and schedule them as that model's request, pinned to that pod. They run no inference: no rate limit, no fair queue,
// and the usage in the stored response they fetch is not counted again, but for a background response's output,
// which its creation could not count: charged when the response is first fetched done.
import { RouterError } from '../errors/router-error.ts';
import type { ExchangeOutcome } from '../proxy/exchange.ts';
import type { RequestContext } from './context.ts';

/** vLLM's answer for an unknown response id, with why the router has none when it knows. */
export function responseNotFound(id: string, why?: string): RouterError {
  return new RouterError('response_not_found', `Response with id '${id}' not found${why === undefined ? '.' : `: ${why}.`}`);
}

/** Parse stage for a stored-response request: the owner this router learnt, or 404. */
export function parseStoredResponseRequest(ctx: RequestContext): undefined | RouterError {
  const target = ctx.storedResponse!;
  const owner = ctx.deps.responseOwners?.ownerOf(target.id);
  if (owner === undefined) return responseNotFound(target.id);
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
  const limiter = ctx.deps.rateLimiter;
  if (limiter != null && limiter.active && ctx.route !== null) ctx.rateLimit = limiter.limitFor(ctx.route, ctx.model);
  return { ...outcome, usage: { promptTokens: 0, completionTokens: usage.completionTokens, totalTokens: usage.completionTokens }, streamedEvents: 0 };
}
