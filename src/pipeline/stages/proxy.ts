// Stage 7, proxy: the one place that calls into the proxy layer. The request context is the exchange's request; the
// backend is the scheduled pods in order, or, for a PD-disaggregated ModelServer, the pairs the schedule stage planned
// with the bodies of the ModelServer's KV connector. Filter logic stays out.
import { connectorFor } from '../../proxy/connectors/index.ts';
import { runExchange, type Backend } from '../../proxy/exchange.ts';
import { buildUpstreamHeaders } from '../../proxy/headers.ts';
import type { BodyEdit } from '../../proxy/json-body.ts';
import { PdBackend } from '../../proxy/pd-backend.ts';
import { PodBackend } from '../../proxy/pod-backend.ts';
import { ensureTraceContext } from '../../observability/trace-context.ts';
import type { PdPair, PdPairPlanner } from '../../scheduling/pd-pairs.ts';
import type { RequestContext } from '../context.ts';
import type { StageResult } from '../run.ts';

export function proxy(ctx: RequestContext): StageResult {
  const { req, record, deps } = ctx;
  const headers = buildUpstreamHeaders(req.rawHeaders, {
    requestId: ctx.requestId,
    remoteAddress: req.socket.remoteAddress,
    encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
    // Streams are asked for in identity encoding so that the usage tap reads the events.
    identityEncoding: ctx.stream,
  });
  record.traceId = ensureTraceContext(headers);
  const server = ctx.server!;
  ctx.headers = headers;
  ctx.timeoutMs = server.timeoutMs;
  ctx.retryAttempts = server.retryAttempts;
  ctx.retryIntervalMs = server.retryIntervalMs;
  let backend: Backend;
  if (ctx.pairs !== null) {
    const first = ctx.pairs.next();
    record.scheduled = first === null ? [] : [first.decode, first.prefill];
    backend = pdBackend(ctx, ctx.pairs);
  } else {
    record.scheduled = ctx.pods;
    backend = new PodBackend(ctx.pods, deps.pools, deps.podStates, deps.picker, ctx.scheduleRequest!);
  }
  record.scheduledAt = performance.now();
  deps.onDispatch(record);
  runExchange(ctx, backend);
  return undefined;
}

/** A prefill pod and a decode pod of one group serve the request, with the connector's bodies. */
function pdBackend(ctx: RequestContext, pairs: PdPairPlanner): PdBackend {
  const { deps } = ctx;
  const connector = connectorFor(ctx.server!);
  const commonEdits: BodyEdit[] = ctx.upstreamModel !== ctx.model ? [{ key: 'model', value: ctx.upstreamModel }] : [];
  const bodiesFor = (pair: PdPair) =>
    connector.bodies({ clientBody: ctx.clientBody, parsed: ctx.parsed!, commonEdits, decodeBase: ctx.body, prefill: pair.prefill, decode: pair.decode });
  return new PdBackend(connector, pairs, bodiesFor, deps.pools, deps.podStates);
}
