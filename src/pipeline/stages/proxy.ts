// Stage 7, proxy: the one place that calls into the proxy layer. The aggregated path hands the request context to
// a ProxyExchange (the context is its options); a PD-disaggregated ModelServer's request goes to a PdExchange with
// the pairs the schedule stage planned and the bodies of the ModelServer's KV connector. Filter logic stays out.
import { connectorFor } from '../../proxy/connectors/index.ts';
import { buildUpstreamHeaders } from '../../proxy/headers.ts';
import type { BodyEdit } from '../../proxy/json-body.ts';
import { PdExchange, type PdOutcome } from '../../proxy/pd-exchange.ts';
import { ProxyExchange } from '../../proxy/proxy-exchange.ts';
import { ensureTraceContext } from '../../observability/trace-context.ts';
import type { RequestContext } from '../context.ts';
import { finishRequest, type StageResult } from '../run.ts';

export function proxy(ctx: RequestContext): StageResult {
  const { req, record, deps } = ctx;
  const headers = buildUpstreamHeaders(req.rawHeaders, {
    requestId: ctx.requestId,
    remoteAddress: req.socket.remoteAddress,
    encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
  });
  record.traceId = ensureTraceContext(headers);
  const server = ctx.server!;
  ctx.headers = headers;
  ctx.timeoutMs = server.timeoutMs;
  ctx.retryAttempts = server.retryAttempts;
  ctx.retryIntervalMs = server.retryIntervalMs;
  if (ctx.pairs !== null) {
    proxyPd(ctx);
    return undefined;
  }
  record.scheduled = ctx.pods;
  record.scheduledAt = performance.now();
  deps.onDispatch(record);
  new ProxyExchange(ctx, deps.pools, deps.podStates).start();
  return undefined;
}

/** A prefill pod and a decode pod of one group serve the request. */
function proxyPd(ctx: RequestContext): void {
  const { deps, record } = ctx;
  const pairs = ctx.pairs!;
  const server = ctx.server!;
  const connector = connectorFor(server);
  const commonEdits: BodyEdit[] = ctx.upstreamModel !== ctx.model ? [{ key: 'model', value: ctx.upstreamModel }] : [];
  const exchange = new PdExchange(
    {
      res: ctx.res,
      path: ctx.path,
      headers: ctx.headers,
      requestId: ctx.requestId,
      stream: ctx.stream,
      hideUsage: ctx.hideUsage,
      connector,
      pairs,
      bodiesFor: (pair) =>
        connector.bodies({
          clientBody: ctx.clientBody,
          parsed: ctx.parsed!,
          commonEdits,
          decodeBase: ctx.body,
          prefill: pair.prefill,
          decode: pair.decode,
        }),
      timeoutMs: ctx.timeoutMs,
      retryAttempts: ctx.retryAttempts,
      retryIntervalMs: ctx.retryIntervalMs,
      closeConnection: deps.draining,
      onDone: (outcome: PdOutcome) => {
        // Post-schedule hooks of both roles (e.g. prefix-cache learns where this prompt's KV cache now is).
        if (outcome.error === null && outcome.pair !== null && outcome.status >= 200 && outcome.status < 300) pairs.served(outcome.pair);
        if (outcome.prefillPhase !== null) record.prefill = outcome.prefillPhase;
        if (outcome.decodePhase !== null) record.decode = outcome.decodePhase;
        finishRequest(ctx, outcome.status, outcome.error, outcome);
      },
    },
    deps.pools,
    deps.podStates,
  );
  record.scheduledAt = performance.now();
  deps.onDispatch(record);
  exchange.start();
}
