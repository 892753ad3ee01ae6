// Stage 4, rate-limit: the route's token buckets for the requested model (ModelRoute spec.rateLimit). Input tokens
// are Kthena's estimate of the prompt, taken before the request; output tokens are charged when the answer ends
// (chargeOutputTokens), from the usage the engine reported; a request that never reaches a backend (refused by the
// fair queue or the scheduler, or its client left while it waited) gets its input tokens back. Every response on a limited route carries the
// x-ratelimit-* headers; a refusal is 429 with Retry-After. Waits only for Redis (global limits).
import type { ServerResponse } from 'node:http';
import { RouterError } from '../../errors/router-error.ts';
import { formatDuration, type RateLimitVerdict } from '../../filters/rate-limit/rate-limiter.ts';
import { estimateInputTokens } from '../../observability/token-estimate.ts';
import type { ExchangeOutcome } from '../../proxy/exchange.ts';
import type { RequestContext } from '../context.ts';
import type { StageResult } from '../run.ts';

/** Paths that run no inference: counting a prompt's tokens spends none of the route's budget. */
const UNMETERED_PATHS: ReadonlySet<string> = new Set(['/v1/messages/count_tokens']);

export function rateLimit(ctx: RequestContext): StageResult {
  const limiter = ctx.deps.rateLimiter;
  if (limiter == null || !limiter.active || ctx.route === null || UNMETERED_PATHS.has(ctx.pathOnly) || ctx.storedResponse !== null) return undefined;
  const limit = limiter.limitFor(ctx.route, ctx.model);
  if (limit === null) return undefined;
  ctx.rateLimit = limit;
  const verdict = limit.check(estimateInputTokens(ctx.parsed));
  if (verdict instanceof Promise) return verdict.then((settled) => judged(ctx, settled));
  return judged(ctx, verdict);
}

function judged(ctx: RequestContext, verdict: RateLimitVerdict): undefined | RouterError {
  ctx.inputTokensTaken = verdict.inputTaken;
  // The client left while Redis answered: the request ended undispatched before the tokens were known.
  if (ctx.ended) refundInputTokens(ctx);
  const res = ctx.res;
  if (verdict.limit >= 0 && !res.headersSent) setRateLimitHeaders(res, verdict);
  if (verdict.unavailable) {
    if (!res.headersSent) res.setHeader('retry-after', String(verdict.retryAfterSeconds));
    return new RouterError('rate_limit_unavailable', 'the rate-limit store is unreachable and the router is configured to refuse requests then');
  }
  if (verdict.refused === null) return undefined;
  ctx.deps.onRateLimited?.(ctx.model, verdict.refused, ctx.pathOnly);
  if (!res.headersSent) res.setHeader('retry-after', String(verdict.retryAfterSeconds));
  const side = verdict.refused === 'input_tokens' ? 'input' : 'output';
  return new RouterError(
    'rate_limit_exceeded',
    `Rate limit reached for ${ctx.model} on ${side} tokens per ${ctx.route?.resource.spec.rateLimit?.unit ?? 'unit'}: limit ${verdict.refusedLimit ?? verdict.limit}, remaining ${verdict.refusedRemaining ?? verdict.remaining}. Please try again in ${verdict.retryAfterSeconds}s.`,
  );
}

/** OpenAI's x-ratelimit-*-tokens headers (merged into whatever status line the answer gets). */
function setRateLimitHeaders(res: ServerResponse, verdict: RateLimitVerdict): void {
  res.setHeader('x-ratelimit-limit-tokens', String(verdict.limit));
  res.setHeader('x-ratelimit-remaining-tokens', String(verdict.remaining));
  res.setHeader('x-ratelimit-reset-tokens', formatDuration(verdict.resetMs));
}

/** Response side of a request that never reached a backend: its input tokens go back to the bucket. */
export function refundInputTokens(ctx: RequestContext): void {
  if (ctx.rateLimit === null || ctx.inputTokensTaken === 0) return;
  ctx.rateLimit.refund(ctx.inputTokensTaken);
  ctx.inputTokensTaken = 0;
}

/**
 * Response side: charge the output tokens the engine reported to the route's output bucket. A stream that did not
 * complete (the client left, the pod broke off) is charged what it delivered, estimated at a token per event when
 * that is more than the usage seen: otherwise a client could take any output by hanging up before the end.
 */
export function chargeOutputTokens(ctx: RequestContext, outcome: ExchangeOutcome | null): void {
  if (ctx.rateLimit === null || outcome === null) return;
  const usage = outcome.usage;
  const complete = !outcome.clientAborted && outcome.error === null;
  if (complete) {
    if (usage != null) ctx.rateLimit.charge(usage.completionTokens);
    return;
  }
  const delivered = Math.max(usage?.completionTokens ?? 0, outcome.streamedEvents ?? 0);
  if (delivered > 0) ctx.rateLimit.charge(delivered);
}
