// Chooses the connector of a PD-disaggregated ModelServer as Kthena does: kvConnector.type when given, SGLang's
// bootstrap protocol for inferenceEngine SGLang, otherwise http.
import type { CompiledServer } from '../../snapshot/types.ts';
import { HttpConnector } from './http-connector.ts';
import { NixlConnector } from './nixl-connector.ts';
import { SglangConnector } from './sglang-connector.ts';
import type { ConnectorName, PdConnector } from './types.ts';

export type { ConnectorName, PairBodies, PairRequest, PdConnector } from './types.ts';
export { PdProtocolError } from './types.ts';

const CONNECTORS: Readonly<Record<ConnectorName, PdConnector>> = {
  http: new HttpConnector('http'),
  lmcache: new HttpConnector('lmcache'),
  nixl: new NixlConnector('nixl'),
  mooncake: new NixlConnector('mooncake'),
  sglang: new SglangConnector(),
};

export function connectorName(server: Pick<CompiledServer, 'kvConnectorType' | 'engine'>): ConnectorName {
  return server.kvConnectorType ?? (server.engine === 'SGLang' ? 'sglang' : 'http');
}

export function connectorFor(server: Pick<CompiledServer, 'kvConnectorType' | 'engine'>): PdConnector {
  return CONNECTORS[connectorName(server)];
}
