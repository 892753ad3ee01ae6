// `http` and `lmcache`: the prefill computes the prompt's KV cache into a store both pods share (LMCache), its answer
// is checked (2xx) and dropped, then the decode gets the client's request as it is and finds the KV in the store.
import { prefillBody, type ConnectorName, type PairBodies, type PairRequest, type PdConnector } from './types.ts';

export class HttpConnector implements PdConnector {
  readonly name: ConnectorName;
  readonly concurrent = false;

  constructor(name: 'http' | 'lmcache') {
    this.name = name;
  }

  bodies(request: PairRequest): PairBodies {
    return { prefill: prefillBody(request), decode: () => request.decodeBase };
  }
}
