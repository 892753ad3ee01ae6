// The inference pipeline's last step for a PD-disaggregated ModelServer (spec.workloadSelector.pdGroup): pairs from
// the scheduler (a decode pod, then a prefill pod of its group), bodies from the connector, a PdExchange to serve.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RouterError } from '../errors/router-error.ts';
import { connectorFor } from '../proxy/connectors/index.ts';
import { buildUpstreamHeaders } from '../proxy/headers.ts';
import { withTraceContext } from '../observability/trace-context.ts';
import type { BodyEdit } from '../proxy/json-body.ts';
import { PdExchange, type PdOutcome } from '../proxy/pd-exchange.ts';
import { PdPairPlanner } from '../scheduling/pd-pairs.ts';
import type { ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { CompiledServer } from '../snapshot/types.ts';
import type { InferenceDeps } from './inference-handler.ts';

export interface PdRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  readonly requestId: string;
  readonly model: string;
  readonly upstreamModel: string;
  readonly isLora: boolean;
  readonly server: CompiledServer;
  /** The client's body as received, and parsed. */
  readonly body: Buffer;
  readonly parsed: Readonly<Record<string, unknown>>;
  /** The aggregated path's upstream body (model rewritten, usage asked for in streams): the decode's base. */
  readonly upstreamBody: Buffer;
  readonly stream: boolean;
  readonly hideUsage: boolean;
  /** The pairs are scheduled and the exchange starts now. */
  readonly onDispatch?: () => void;
  readonly onDone: (outcome: PdOutcome) => void;
}

export function proxyPdInference(deps: InferenceDeps, r: PdRequest, refuse: (error: RouterError, model?: string | null) => void): void {
  const { server, model } = r;
  const scheduleRequest: ScheduleRequest = {
    model,
    upstreamModel: r.upstreamModel,
    isLora: r.isLora,
    server,
    rawHeaders: r.req.rawHeaders,
    body: r.parsed,
  };
  const pairs = new PdPairPlanner(deps.picker, scheduleRequest);
  if (pairs.noGroupHasBothRoles) {
    const groupKey = server.pd?.groupKey ?? '';
    return refuse(new RouterError('no_pd_pair', `ModelServer ${server.key} has no PD group (pods with label ${groupKey}) with both a ready prefill pod and a ready decode pod`), model);
  }
  if (pairs.next() === null) {
    return refuse(new RouterError('pods_overloaded', `every prefill/decode pair of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`), model);
  }

  const connector = connectorFor(server);
  const commonEdits: BodyEdit[] = r.upstreamModel !== model ? [{ key: 'model', value: r.upstreamModel }] : [];
  const exchange = new PdExchange(
    {
      res: r.res,
      path: r.path,
      headers: withTraceContext(buildUpstreamHeaders(r.req.rawHeaders, {
        requestId: r.requestId,
        remoteAddress: r.req.socket.remoteAddress,
        encrypted: 'encrypted' in r.req.socket && r.req.socket.encrypted === true,
      })),
      requestId: r.requestId,
      stream: r.stream,
      hideUsage: r.hideUsage,
      connector,
      pairs,
      bodiesFor: (pair) =>
        connector.bodies({
          clientBody: r.body,
          parsed: r.parsed,
          commonEdits,
          decodeBase: r.upstreamBody,
          prefill: pair.prefill,
          decode: pair.decode,
        }),
      timeoutMs: server.timeoutMs,
      retryAttempts: server.retryAttempts,
      retryIntervalMs: server.retryIntervalMs,
      closeConnection: deps.draining,
      onDone: (outcome) => {
        // Post-schedule hooks of both roles (e.g. prefix-cache learns where this prompt's KV cache now is).
        if (outcome.error === null && outcome.pair !== null && outcome.status >= 200 && outcome.status < 300) pairs.served(outcome.pair);
        r.onDone(outcome);
      },
    },
    deps.pools,
    deps.podStates,
  );
  r.onDispatch?.();
  exchange.start();
}
