// `nixl` and `mooncake` (vLLM's NixlConnector / MooncakeConnector): the prefill is asked to keep the KV cache for a
// remote decode; its answer's kv_transfer_params (engine id, block ids, host, port, request id) tell the decode where
// to pull it from, and are copied into the decode request unchanged. An answer without them fails the pair (Kthena
// sends `null` and lets the decode recompute the prompt in silence).
import { editTopLevel } from '../json-body.ts';
import { PdProtocolError, prefillBody, type ConnectorName, type PairBodies, type PairRequest, type PdConnector } from './types.ts';

const REMOTE_DECODE = { do_remote_decode: true, do_remote_prefill: false };

export class NixlConnector implements PdConnector {
  readonly name: ConnectorName;
  readonly concurrent = false;

  constructor(name: 'nixl' | 'mooncake') {
    this.name = name;
  }

  bodies(request: PairRequest): PairBodies {
    return {
      prefill: prefillBody(request, [{ key: 'kv_transfer_params', value: REMOTE_DECODE }]),
      decode: (answer) => editTopLevel(request.decodeBase, [{ key: 'kv_transfer_params', json: this.transferParams(answer, request) }]),
    };
  }

  /** The prefill answer's kv_transfer_params as JSON text; throws when there are none. */
  private transferParams(answer: Buffer | null, request: PairRequest): string {
    const pod = request.prefill.podKey;
    let parsed: unknown;
    try {
      parsed = JSON.parse((answer ?? Buffer.alloc(0)).toString('utf8'));
    } catch {
      throw new PdProtocolError(`prefill pod ${pod} answered with a body that is not JSON (kvConnector ${this.name} needs its kv_transfer_params)`);
    }
    const params = isRecord(parsed) ? parsed.kv_transfer_params : undefined;
    if (!isRecord(params)) {
      throw new PdProtocolError(`prefill pod ${pod} answered without kv_transfer_params (kvConnector ${this.name}); is it a vLLM prefill instance with kv_role kv_producer?`);
    }
    return JSON.stringify(params);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
