// The KV-cache connectors of PD-disaggregated serving: how one request becomes a prefill request and a decode
// request, and what passes between them. One file per protocol; connectorFor() (index.ts) chooses as Kthena does.
import type { PodEndpoint } from '../../snapshot/types.ts';
import { editTopLevel, type BodyEdit } from '../json-body.ts';

export type ConnectorName = 'http' | 'lmcache' | 'nixl' | 'mooncake' | 'sglang';

/** One prefill/decode pair attempt of one client request. */
export interface PairRequest {
  /** The request's path without its query: which API the body speaks (absent: a completions-style API). */
  readonly path?: string;
  /** The client's body as received. */
  readonly clientBody: Buffer;
  /** The parsed client body (read only). */
  readonly parsed: Readonly<Record<string, unknown>>;
  /** Edits every upstream body gets (the model rewrite to spec.model). */
  readonly commonEdits: readonly BodyEdit[];
  /** The aggregated path's upstream body: `commonEdits` plus stream_options.include_usage for streams. */
  readonly decodeBase: Buffer;
  readonly prefill: PodEndpoint;
  readonly decode: PodEndpoint;
}

export interface PairBodies {
  readonly prefill: Buffer;
  /**
   * The decode request's body. Sequential connectors get the prefill's 2xx answer and may throw a PdProtocolError
   * when it lacks what the decode needs; concurrent ones are called with null before the prefill answers.
   */
  decode(prefillAnswer: Buffer | null): Buffer;
}

export interface PdConnector {
  readonly name: ConnectorName;
  /** Prefill and decode are sent at the same time (SGLang: its bootstrap handshake needs both sides at once). */
  readonly concurrent: boolean;
  bodies(request: PairRequest): PairBodies;
}

const RESPONSES_PATH = '/v1/responses';

/** The prefill's answer lacks what the protocol needs: this pair failed. */
export class PdProtocolError extends Error {}

/**
 * The prefill request: the client's request computing one token and no stream. `stream` and `stream_options` go,
 * `max_tokens` becomes 1, and `max_completion_tokens` too when the client sent it; on the Responses API, whose
 * limit is `max_output_tokens` (an engine ignores `max_tokens` there and would generate the whole answer),
 * `max_output_tokens` becomes 1. `min_tokens` goes.
 */
export function prefillBody(request: PairRequest, extra: readonly BodyEdit[] = []): Buffer {
  const edits: BodyEdit[] = [
    ...request.commonEdits,
    { key: 'stream', remove: true },
    { key: 'stream_options', remove: true },
    request.path === RESPONSES_PATH ? { key: 'max_output_tokens', value: 1 } : { key: 'max_tokens', value: 1 },
  ];
  if (Object.hasOwn(request.parsed, 'max_completion_tokens')) edits.push({ key: 'max_completion_tokens', value: 1 });
  // A lower bound above the one token is refused by the engine (400): it applies to the decode only.
  if (Object.hasOwn(request.parsed, 'min_tokens')) edits.push({ key: 'min_tokens', remove: true });
  edits.push(...extra);
  return editTopLevel(request.clientBody, edits);
}
