// Stage 5, admit: the admission queue (fairness, session boost) lets the request go now, or it waits its turn. A
// streaming request that waits longer than the heartbeat interval gets an SSE response at once with comment
// heartbeats (": queued"), so that proxies in front do not cut the idle connection; from then on its answer
// continues that stream (queued-sse.ts), and a failure ends it with one SSE error event.
import { RouterError } from '../../errors/router-error.ts';
import { estimateInputTokens } from '../../observability/token-estimate.ts';
import type { ExchangeOutcome } from '../../proxy/exchange.ts';
import type { RequestContext } from '../context.ts';
import type { AdmissionTicket } from '../filters.ts';
import type { StageResult } from '../run.ts';
import { openQueuedStream } from './queued-sse.ts';

const DEFAULT_HEARTBEAT_MS = 5000;
const HEARTBEAT = ': queued\n\n';
const QUEUE_RETRY_AFTER_S = '1';

export function admit(ctx: RequestContext): StageResult {
  const admission = ctx.deps.admission;
  // A request on a stored response runs no inference: it does not queue behind those that do.
  if (admission == null || !admission.active || ctx.storedResponse !== null) return undefined;
  const startedAt = performance.now();
  const { user, sessionKey } = admission.keysOf(ctx.identity?.user ?? null, ctx.req.rawHeaders);
  const result = admission.admit({ model: ctx.model, user, sessionKey, pods: ctx.server?.pods }, ctx.signal);
  if (!(result instanceof Promise)) return admitted(ctx, result, startedAt);
  const heartbeat = ctx.stream ? startHeartbeat(ctx) : null;
  return result.then(
    (settled) => {
      if (heartbeat !== null) clearInterval(heartbeat);
      return admitted(ctx, settled, startedAt);
    },
    (err: unknown) => {
      if (heartbeat !== null) clearInterval(heartbeat);
      throw err;
    },
  );
}

function admitted(ctx: RequestContext, result: AdmissionTicket | RouterError, startedAt: number): undefined | RouterError {
  ctx.record.queueMs = performance.now() - startedAt;
  if (result instanceof RouterError) {
    // Nothing upstream timed out: the fleet is busy; come back shortly.
    if (result.code === 'queue_timeout' && result.headers.length === 0 && !ctx.res.headersSent) ctx.res.setHeader('retry-after', QUEUE_RETRY_AFTER_S);
    return result;
  }
  if (ctx.ended) {
    result.release(null); // the client left while it waited
    return undefined;
  }
  ctx.ticket = result;
  return undefined;
}

/** Response side: give the admission slot back with the request's token usage. */
export function releaseAdmission(ctx: RequestContext, outcome: ExchangeOutcome | null): void {
  const ticket = ctx.ticket;
  if (ticket === null) return;
  ctx.ticket = null;
  const streamed = outcome?.streamedEvents ?? 0;
  if (outcome !== null && (outcome.clientAborted || outcome.error !== null) && streamed > 0) {
    // A stream cut short still used the engine: its user's usage counts what was delivered (no free priority).
    ticket.release({ inputTokens: outcome.usage?.promptTokens ?? estimateInputTokens(ctx.parsed), outputTokens: Math.max(outcome.usage?.completionTokens ?? 0, streamed) });
    return;
  }
  if (outcome === null || outcome.error !== null || outcome.clientAborted || outcome.status >= 400) {
    ticket.release(null);
    return;
  }
  // A success without reported usage still counts: the input estimate and no output (the fair queue's contract).
  const usage = outcome.usage;
  ticket.release(usage == null
    ? { inputTokens: estimateInputTokens(ctx.parsed), outputTokens: 0 }
    : { inputTokens: usage.promptTokens, outputTokens: usage.completionTokens });
}

function startHeartbeat(ctx: RequestContext): NodeJS.Timeout {
  const timer = setInterval(() => {
    if (ctx.ended) return;
    if (!ctx.sseOpened) openQueuedStream(ctx);
    ctx.res.write(HEARTBEAT);
  }, ctx.deps.queueHeartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  // Stops with the client, even if the admission is slow to hear the abort.
  ctx.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return timer;
}
