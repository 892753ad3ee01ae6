// The request pipeline, in order: parse → authenticate → route → rate-limit → admit → schedule → proxy. A stage
// answers synchronously on the fast path (undefined: go on; a RouterError: refuse) and returns a promise only when
// it really waits; the loop then stops, and resumes when the promise settles, unless the client left meanwhile (the
// request was dropped at once and is never dispatched). The response side runs in reverse when the request ends:
// admission release, token accounting (output tokens charged, or input tokens refunded when never dispatched), then
// the access log and metrics (the scheduler's post-schedule hook runs in the backend when an answer was served).
import { RouterError, errorDialectOf, writeErrorResponse } from '../errors/router-error.ts';
import { endRecord } from '../observability/request-record.ts';
import type { ExchangeOutcome } from '../proxy/exchange.ts';
import type { RequestContext } from './context.ts';
import { admit, releaseAdmission } from './stages/admit.ts';
import { authenticate } from './stages/authenticate.ts';
import { parse } from './stages/parse.ts';
import { proxy } from './stages/proxy.ts';
import { chargeOutputTokens, rateLimit, refundInputTokens } from './stages/rate-limit.ts';
import { route } from './stages/route.ts';
import { rememberResponseOwner, schedule } from './stages/schedule.ts';

/** undefined: continue; RouterError: refuse the request; a promise: the stage waits (it settles to one of those). */
export type StageResult = undefined | RouterError | Promise<undefined | RouterError>;
export type Stage = (ctx: RequestContext) => StageResult;

export const STAGES: readonly Stage[] = [parse, authenticate, route, rateLimit, admit, schedule, proxy];

/** Runs the stages from ctx.next on, until one waits, refuses, or the proxy stage hands over to the exchange. */
export function runPipeline(ctx: RequestContext): void {
  while (ctx.next < STAGES.length) {
    const stage = STAGES[ctx.next++];
    let result: StageResult;
    try {
      result = stage(ctx);
    } catch (err) {
      result = asRouterError(err);
    }
    if (result === undefined) continue;
    if (result instanceof RouterError) return refuse(ctx, result);
    ctx.waiting = true;
    ctx.watchClient();
    result.then(
      (settled) => resume(ctx, settled),
      (err: unknown) => resume(ctx, asRouterError(err)),
    );
    return;
  }
}

function resume(ctx: RequestContext, result: undefined | RouterError): void {
  if (ctx.ended) return; // the client left while the stage waited: dropped, never dispatched
  ctx.waiting = false;
  if (result instanceof RouterError) return refuse(ctx, result);
  runPipeline(ctx);
}

/** Answers the request with `error` (one SSE error event when the admit stage already opened a stream). */
export function refuse(ctx: RequestContext, error: RouterError): void {
  if (ctx.ended) return;
  const res = ctx.res;
  if (ctx.sseOpened) {
    if (!res.writableEnded) res.end(error.toSseEvent(errorDialectOf(ctx.req.url)));
  } else if (res.headersSent) {
    res.destroy();
  } else {
    writeErrorResponse(res, error, ctx.requestId, ctx.deps.draining());
  }
  finishRequest(ctx, error.status, error, null);
}

/** The request ended (answered, refused, or abandoned by its client: status 0): the response-side hooks, once. */
export function finishRequest(ctx: RequestContext, status: number, error: RouterError | null, outcome: ExchangeOutcome | null): void {
  if (ctx.ended) return;
  ctx.ended = true;
  ctx.waiting = false;
  // A queued stream's exchange failed before answering: it could not write a status line; end the stream with the error.
  if (ctx.sseOpened && error !== null && !ctx.res.writableEnded && !ctx.res.destroyed) ctx.res.end(error.toSseEvent(errorDialectOf(ctx.req.url)));
  if (ctx.sseOpened && status !== 0 && status !== 200) {
    // A queued stream's status line went out as 200 with its heartbeats: that is the status its client saw, however it
    // ended (an error is one SSE event in the stream), as for a pod's error event inside a 200 stream.
    error ??= new RouterError('upstream_stream_error', `the upstream answered ${status} after the queued stream was opened; the client got it as an SSE error event`);
    status = 200;
  }
  releaseAdmission(ctx, outcome);
  if (outcome === null) refundInputTokens(ctx); // never dispatched
  else {
    chargeOutputTokens(ctx, outcome);
    rememberResponseOwner(ctx, outcome);
  }
  ctx.deps.onRequestDone(endRecord(ctx.record, status, error, outcome));
}

function asRouterError(err: unknown): RouterError {
  if (err instanceof RouterError) return err;
  return new RouterError('internal_error', `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
