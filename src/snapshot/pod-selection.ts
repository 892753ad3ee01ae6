// Which pods back a ModelServer: same namespace, every matchLabels pair, and ready.
import { isIPv6 } from 'node:net';
import { PORT_ANNOTATION, type PodStub } from '../resources/types.ts';
import type { PodEndpoint } from './types.ts';

/** Ready unless the status says otherwise: an IP, phase Running (or absent), Ready condition not False, not terminating. */
export function isPodReady(pod: PodStub): boolean {
  if (!pod.status.podIP) return false;
  if (pod.metadata.deletionTimestamp) return false;
  if (pod.status.phase !== undefined && pod.status.phase !== 'Running') return false;
  const ready = pod.status.conditions?.find((c) => c.type === 'Ready');
  return ready === undefined || ready.status === 'True';
}

/** Pods of all namespaces indexed by namespace and by "key=value" label, for selector lookups without a full scan. */
export class PodIndex {
  private readonly byNamespaceLabel = new Map<string, Map<string, PodStub[]>>();
  private readonly byNamespace = new Map<string, PodStub[]>();

  constructor(pods: readonly PodStub[]) {
    for (const pod of pods) {
      const ns = pod.metadata.namespace;
      let all = this.byNamespace.get(ns);
      if (!all) this.byNamespace.set(ns, (all = []));
      all.push(pod);
      let labels = this.byNamespaceLabel.get(ns);
      if (!labels) this.byNamespaceLabel.set(ns, (labels = new Map<string, PodStub[]>()));
      for (const [k, v] of Object.entries(pod.metadata.labels)) {
        const key = `${k}=${v}`;
        let list = labels.get(key);
        if (!list) labels.set(key, (list = []));
        list.push(pod);
      }
    }
  }

  /** Pods in `namespace` carrying every label of `matchLabels` (an empty selector selects nothing). */
  select(namespace: string, matchLabels: Readonly<Record<string, string>>): PodStub[] {
    const entries = Object.entries(matchLabels);
    if (entries.length === 0) return [];
    const labels = this.byNamespaceLabel.get(namespace);
    if (!labels) return [];
    // Start from the smallest candidate list.
    let smallest: PodStub[] | undefined;
    for (const [k, v] of entries) {
      const list = labels.get(`${k}=${v}`);
      if (!list) return [];
      if (!smallest || list.length < smallest.length) smallest = list;
    }
    return smallest!.filter((pod) => matchesLabels(pod.metadata.labels, entries));
  }
}

export function matchesLabels(
  labels: Readonly<Record<string, string>>,
  selector: readonly (readonly [string, string])[] | Readonly<Record<string, string>>,
): boolean {
  const entries: readonly (readonly [string, string])[] = Array.isArray(selector) ? selector : Object.entries(selector);
  for (const [k, v] of entries) if (labels[k] !== v) return false;
  return true;
}

/** `protocol` is the ModelServer's workloadPort.protocol: https pods are reached over TLS. */
export function toEndpoint(pod: PodStub, serverPort: number, protocol: 'http' | 'https' = 'http'): PodEndpoint {
  const ip = pod.status.podIP!;
  const override = pod.metadata.annotations[PORT_ANNOTATION];
  const port = override !== undefined ? Number(override) : serverPort;
  const host = isIPv6(ip) ? `[${ip}]` : ip;
  const startedAt = lastContainerStart(pod);
  return {
    podKey: `${pod.metadata.namespace}/${pod.metadata.name}`,
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    ip,
    port,
    origin: `${protocol}://${host}:${port}`,
    labels: pod.metadata.labels,
    annotations: pod.metadata.annotations,
    ...(startedAt !== 0 && { startedAt }),
  };
}

/** Unix seconds of the latest start among the pod's running containers (Kthena's rule: readiness is not a restart); 0 when none is known. */
export function lastContainerStart(pod: PodStub): number {
  let newest = 0;
  for (const status of pod.status.containerStatuses ?? []) {
    const started = status.state?.running?.startedAt;
    if (started === undefined) continue;
    const seconds = Math.floor(Date.parse(started) / 1000);
    if (seconds > newest) newest = seconds;
  }
  return newest;
}
