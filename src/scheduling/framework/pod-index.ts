// origin → position in a candidate list, computed once per list. Candidate lists come from the routing snapshot
// and live as long as it does, so this is built once per configuration, not per request.
import type { PodEndpoint } from '../../snapshot/types.ts';

const cache = new WeakMap<readonly PodEndpoint[], ReadonlyMap<string, number>>();

export function indexByOrigin(pods: readonly PodEndpoint[]): ReadonlyMap<string, number> {
  let index = cache.get(pods);
  if (index === undefined) {
    const built = new Map<string, number>();
    pods.forEach((pod, i) => {
      if (!built.has(pod.origin)) built.set(pod.origin, i);
    });
    index = built;
    cache.set(pods, index);
  }
  return index;
}
