// Which certificates an https upstream (a pod with workloadPort.protocol https) may present: Node's default CAs,
// plus the bundle given with --upstream-ca. Shared by the proxy's pools, the health checker, the engine scraper and the
// engines' /tokenize (kvcache-aware).
import { rootCertificates } from 'node:tls';

export interface TlsConnectOptions {
  readonly ca?: string[];
}

/** undici's `connect` options trusting `ca` (PEM text of one or more certificates) on top of Node's roots. */
export function tlsConnect(ca: string | undefined): TlsConnectOptions | undefined {
  if (ca === undefined) return undefined;
  return { ca: [...rootCertificates, ca] };
}
