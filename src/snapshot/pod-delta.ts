// Pod churn without a recompile: a pod that comes, goes, or changes readiness or labels rebuilds only the ModelServers
// that select it (before or after the change) and shares everything else with the previous snapshot: routes,
// pickers, providers, the /v1/models body. Indexes kept between snapshots make finding those servers a few map
// lookups, whatever the number of ModelServers and pods.
import type { PodStub } from '../resources/types.ts';
import { compileServer } from './compile-snapshot.ts';
import { matchesLabels } from './pod-selection.ts';
import type { CompiledServer, PodEndpoint, RoutingSnapshot } from './types.ts';

/** Pods added or changed (whole new stubs) and pod keys ("namespace/name") gone. */
export interface PodChanges {
  readonly upserted: readonly PodStub[];
  readonly removed: readonly string[];
}

const keyOfPod = (pod: PodStub): string => `${pod.metadata.namespace}/${pod.metadata.name}`;

export class PodTracker {
  private readonly pods = new Map<string, PodStub>();
  /** "namespace\0key=value" → keys of the servers whose matchLabels contain that pair. */
  private readonly serversByLabel = new Map<string, string[]>();
  /** Server key → keys of the pods it selects (ready or not). */
  private readonly members = new Map<string, Set<string>>();
  /** Origin → how many servers list it among their ready pods. */
  private readonly originRefs = new Map<string, number>();
  /** The snapshots' endpoints map, updated in place (see RoutingSnapshot.endpoints). */
  private endpoints = new Map<string, PodEndpoint>();

  /** Rebuilds the indexes for a fully compiled snapshot and the pods it was compiled from. */
  reset(snapshot: RoutingSnapshot, pods: readonly PodStub[]): void {
    this.pods.clear();
    this.serversByLabel.clear();
    this.members.clear();
    this.originRefs.clear();
    this.endpoints = snapshot.endpoints as Map<string, PodEndpoint>;
    for (const pod of pods) this.pods.set(keyOfPod(pod), pod);
    for (const server of snapshot.servers.values()) {
      this.members.set(server.key, new Set());
      for (const [k, v] of Object.entries(server.resource.spec.workloadSelector.matchLabels)) {
        const index = `${server.namespace}\0${k}=${v}`;
        const list = this.serversByLabel.get(index);
        if (list) list.push(server.key);
        else this.serversByLabel.set(index, [server.key]);
      }
      for (const pod of server.pods) this.originRefs.set(pod.origin, (this.originRefs.get(pod.origin) ?? 0) + 1);
    }
    for (const [key, pod] of this.pods) for (const server of this.serversOf(pod, snapshot)) this.members.get(server)!.add(key);
  }

  /** Every pod known, for the next full compile. */
  allPods(): IterableIterator<PodStub> {
    return this.pods.values();
  }

  /**
   * Applies the changes to the indexes and returns the next snapshot, or null when no ModelServer selects any of the
   * changed pods (then the live snapshot stays as it is).
   */
  apply(current: RoutingSnapshot, changes: PodChanges, generation: number): RoutingSnapshot | null {
    const affected = new Set<string>();
    const leave = (key: string): void => {
      const old = this.pods.get(key);
      if (old === undefined) return;
      for (const server of this.serversOf(old, current)) {
        this.members.get(server)?.delete(key);
        affected.add(server);
      }
      this.pods.delete(key);
    };
    for (const key of changes.removed) leave(key);
    for (const pod of changes.upserted) {
      const key = keyOfPod(pod);
      leave(key);
      this.pods.set(key, pod);
      for (const server of this.serversOf(pod, current)) {
        this.members.get(server)?.add(key);
        affected.add(server);
      }
    }
    if (affected.size === 0) return null;

    const servers = new Map(current.servers);
    const endpoints = this.endpoints;
    let podCount = current.stats.pods;
    for (const key of affected) {
      const before = current.servers.get(key);
      if (before === undefined) continue;
      const selected: PodStub[] = [];
      for (const podKey of this.members.get(key) ?? []) selected.push(this.pods.get(podKey)!);
      const after = compileServer(before.resource, selected);
      servers.set(key, after);
      podCount += after.pods.length - before.pods.length;
      this.release(before, endpoints);
      this.retain(after, endpoints);
    }
    return { ...current, generation, builtAt: new Date(), servers, endpoints, stats: { ...current.stats, pods: podCount } };
  }

  private release(server: CompiledServer, endpoints: Map<string, PodEndpoint>): void {
    for (const pod of server.pods) {
      const refs = (this.originRefs.get(pod.origin) ?? 1) - 1;
      if (refs > 0) this.originRefs.set(pod.origin, refs);
      else {
        this.originRefs.delete(pod.origin);
        endpoints.delete(pod.origin);
      }
    }
  }

  private retain(server: CompiledServer, endpoints: Map<string, PodEndpoint>): void {
    for (const pod of server.pods) {
      this.originRefs.set(pod.origin, (this.originRefs.get(pod.origin) ?? 0) + 1);
      endpoints.set(pod.origin, pod);
    }
  }

  /** Keys of the servers (in the pod's namespace) whose whole selector the pod's labels satisfy. */
  private serversOf(pod: PodStub, snapshot: RoutingSnapshot): string[] {
    const found: string[] = [];
    const ns = pod.metadata.namespace;
    for (const [k, v] of Object.entries(pod.metadata.labels)) {
      for (const key of this.serversByLabel.get(`${ns}\0${k}=${v}`) ?? []) {
        if (found.includes(key)) continue;
        const server = snapshot.servers.get(key);
        if (server !== undefined && matchesLabels(pod.metadata.labels, server.resource.spec.workloadSelector.matchLabels)) found.push(key);
      }
    }
    return found;
  }
}
