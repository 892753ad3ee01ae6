// The server-side label selector for the Pod watch, derived from the ModelServers' workloadSelectors. A union of
// matchLabels selectors is not one Kubernetes selector in general, but when one label key appears in all of them,
// `key in (v1, v2, …)` selects a superset of every ModelServer's pods; the exact match still happens in the snapshot.
import type { ModelServer } from '../../resources/types.ts';

/** undefined: no single selector covers them (or no ModelServer): watch every Pod of the watched namespaces. */
export function derivePodSelector(servers: Iterable<ModelServer>): string | undefined {
  let common: Map<string, Set<string>> | null = null;
  for (const server of servers) {
    const labels = server.spec.workloadSelector.matchLabels;
    if (common === null) {
      common = new Map(Object.entries(labels).map(([k, v]) => [k, new Set([v])]));
    } else {
      for (const [key, values] of common) {
        const value = labels[key];
        if (value === undefined) common.delete(key);
        else values.add(value);
      }
    }
    if (common.size === 0) return undefined;
  }
  if (common === null) return undefined;
  // The key with the fewest distinct values selects the fewest pods, most likely.
  let best: [string, Set<string>] | null = null;
  for (const entry of common) if (best === null || entry[1].size < best[1].size || (entry[1].size === best[1].size && entry[0] < best[0])) best = entry;
  const [key, values] = best!;
  return `${key} in (${[...values].sort().join(',')})`;
}
