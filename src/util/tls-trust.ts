// Which certificates an https upstream (a pod with workloadPort.protocol https, an external provider) may present:
// Node's default CAs (its bundle, plus NODE_EXTRA_CA_CERTS and, with --use-system-ca, the system store), plus the
// bundle given with --upstream-ca. Shared by the proxy's pools, the health checker, the engine scraper and the
// engines' /tokenize (kvcache-aware).
import { getCACertificates } from 'node:tls';

export interface TlsConnectOptions {
  readonly ca?: string[];
}

/**
 * undici's `connect` options trusting `ca` (PEM text of one or more certificates) on top of Node's default CAs. A `ca`
 * option replaces Node's defaults, so they are listed in full: Node's bundle alone would drop NODE_EXTRA_CA_CERTS.
 */
export function tlsConnect(ca: string | undefined): TlsConnectOptions | undefined {
  if (ca === undefined) return undefined;
  return { ca: [...getCACertificates('default'), ca] };
}
