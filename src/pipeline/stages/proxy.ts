// Stage 7, proxy: the one place that calls into the proxy layer. The request context is the exchange's request; the
// backend is the scheduled pods in order, for a PD-disaggregated ModelServer the pairs the schedule stage planned with
// the bodies of the ModelServer's KV connector, or an ExternalModelProvider. Filter logic stays out.
import { RouterError } from '../../errors/router-error.ts';
import { connectorFor } from '../../proxy/connectors/index.ts';
import { runExchange, type Backend } from '../../proxy/exchange.ts';
import { buildUpstreamHeaders } from '../../proxy/headers.ts';
import type { BodyEdit } from '../../proxy/json-body.ts';
import { PdBackend } from '../../proxy/pd-backend.ts';
import { PodBackend } from '../../proxy/pod-backend.ts';
import { PROVIDER_RETRIES, ProviderBackend, providerHeaders, providerPath } from '../../proxy/provider-backend.ts';
import { setExplainHeader } from '../../observability/explain/summary.ts';
import { ensureTraceContext } from '../../observability/trace-context.ts';
import type { PdPair, PdPairPlanner } from '../../scheduling/pd-pairs.ts';
import type { CompiledProvider } from '../../snapshot/types.ts';
import type { RequestContext } from '../context.ts';
import type { StageResult } from '../run.ts';

export function proxy(ctx: RequestContext): StageResult {
  if (ctx.provider !== null) return toProvider(ctx, ctx.provider);
  const { req, record, deps } = ctx;
  const headers = buildUpstreamHeaders(req.rawHeaders, {
    requestId: ctx.requestId,
    remoteAddress: req.socket.remoteAddress,
    encrypted: 'encrypted' in req.socket && req.socket.encrypted === true,
    // Streams are asked for in identity encoding so that the usage tap reads the events.
    identityEncoding: ctx.stream,
    strip: deps.authenticator?.podHeadersToStrip,
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
    backend = new PodBackend(ctx.pods, deps.pools, deps.podStates, deps.picker, ctx.scheduleRequest);
  }
  return dispatch(ctx, backend);
}

/** An ExternalModelProvider serves the request: its own path, headers (credential from its Secret) and timeout. */
function toProvider(ctx: RequestContext, provider: CompiledProvider): StageResult {
  const path = providerPath(provider, ctx.path);
  if (ctx.explain !== null) {
    ctx.trace?.providerTarget(ctx.upstreamModel, ctx.isLora);
    setExplainHeader(ctx.res, ctx.trace, ctx.explain, path instanceof RouterError ? path : null);
  }
  if (path instanceof RouterError) return path;
  ctx.headers = providerHeaders(provider, ctx.req.rawHeaders, { requestId: ctx.requestId, identityEncoding: ctx.stream });
  ctx.record.traceId = ensureTraceContext(ctx.headers);
  ctx.timeoutMs = provider.timeoutMs;
  ctx.retryAttempts = PROVIDER_RETRIES;
  ctx.retryIntervalMs = 0;
  // A Responses answer's id is learnt (an OpenAI provider stores responses too: GET /v1/responses/{id} comes back here).
  if (ctx.pathOnly === '/v1/responses' && ctx.deps.responseOwners != null) ctx.learnResponseId = true;
  const request = { method: ctx.method, path, headers: ctx.headers, body: ctx.body, timeoutMs: provider.timeoutMs };
  return dispatch(ctx, new ProviderBackend(provider, request, ctx.deps.pools, ctx.deps.podStates));
}

function dispatch(ctx: RequestContext, backend: Backend): StageResult {
  ctx.record.scheduledAt = performance.now();
  ctx.deps.onDispatch(ctx.record);
  runExchange(ctx, backend);
  return undefined;
}

/** A prefill pod and a decode pod of one group serve the request, with the connector's bodies. */
function pdBackend(ctx: RequestContext, pairs: PdPairPlanner): PdBackend {
  const { deps } = ctx;
  const connector = connectorFor(ctx.server!);
  const commonEdits: BodyEdit[] = ctx.upstreamModel !== ctx.model ? [{ key: 'model', value: ctx.upstreamModel }] : [];
  const bodiesFor = (pair: PdPair) =>
    connector.bodies({ path: ctx.pathOnly, clientBody: ctx.clientBody, parsed: ctx.parsed!, commonEdits, decodeBase: ctx.body, prefill: pair.prefill, decode: pair.decode });
  return new PdBackend(connector, pairs, bodiesFor, deps.pools, deps.podStates);
}
