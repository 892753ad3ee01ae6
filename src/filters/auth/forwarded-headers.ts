// Which of the caller's credential headers go upstream. In-cluster pods get them unless `forwardCredential: false`
// (Kthena forwards the JWT unchanged; an engine started with --api-key may need the caller's key). External
// providers never get them: the router sends the provider's own credential instead.
export type UpstreamKind = 'in-cluster' | 'external';

const CREDENTIAL_HEADERS: readonly string[] = Object.freeze(['authorization', 'x-api-key']);
const NONE: readonly string[] = Object.freeze([]);

/** Lower-case names of the request headers to drop before forwarding to `upstream`. */
export function credentialHeadersToStrip(upstream: UpstreamKind, forwardCredential: boolean): readonly string[] {
  return upstream === 'external' || !forwardCredential ? CREDENTIAL_HEADERS : NONE;
}
