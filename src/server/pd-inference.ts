// The inference pipeline's last step for a PD-disaggregated ModelServer (spec.workloadSelector.pdGroup): pairs from
// the scheduler (a decode pod, then a prefill pod of its group), bodies from the connector, a PdBackend to serve.
import type { IncomingMessage } from 'node:http';
import { RouterError } from '../errors/router-error.ts';
import { connectorFor } from '../proxy/connectors/index.ts';
import type { BodyEdit } from '../proxy/json-body.ts';
import { PdBackend } from '../proxy/pd-backend.ts';
import { PdPairPlanner } from '../scheduling/pd-pairs.ts';
import type { ScheduleRequest } from '../scheduling/pod-picker.ts';
import type { CompiledServer, PodEndpoint } from '../snapshot/types.ts';
import type { InferenceDeps } from './inference-handler.ts';

export interface PdRequest {
  readonly req: IncomingMessage;
  readonly model: string;
  readonly upstreamModel: string;
  readonly isLora: boolean;
  readonly server: CompiledServer;
  /** The client's body as received, and parsed. */
  readonly body: Buffer;
  readonly parsed: Readonly<Record<string, unknown>>;
  /** The aggregated path's upstream body (model rewritten, usage asked for in streams): the decode's base. */
  readonly upstreamBody: Buffer;
}

/**
 * The backend serving `r`, and the first pair the scheduler chose (decode pod first, for the record), or null when
 * the request was refused (`refuse` answered it).
 */
export function pdBackend(
  deps: InferenceDeps,
  r: PdRequest,
  refuse: (error: RouterError, model?: string | null) => void,
): { backend: PdBackend; firstPair: readonly PodEndpoint[] } | null {
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
    refuse(new RouterError('no_pd_pair', `ModelServer ${server.key} has no PD group (pods with label ${groupKey}) with both a ready prefill pod and a ready decode pod`), model);
    return null;
  }
  const first = pairs.next();
  if (first === null) {
    refuse(new RouterError('pods_overloaded', `every prefill/decode pair of ModelServer ${server.key} is overloaded (the scheduler's filters removed them all)`), model);
    return null;
  }

  const connector = connectorFor(server);
  const commonEdits: BodyEdit[] = r.upstreamModel !== model ? [{ key: 'model', value: r.upstreamModel }] : [];
  const bodiesFor = (pair: { prefill: PodEndpoint; decode: PodEndpoint }) =>
    connector.bodies({ clientBody: r.body, parsed: r.parsed, commonEdits, decodeBase: r.upstreamBody, prefill: pair.prefill, decode: pair.decode });
  return { backend: new PdBackend(connector, pairs, bodiesFor, deps.pools, deps.podStates), firstPair: [first.decode, first.prefill] };
}
