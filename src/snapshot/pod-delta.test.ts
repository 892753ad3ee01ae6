// Pod deltas must give exactly what a full compile of the same resources gives: checked over random churn
// (readiness, relabelling between ModelServers, pods shared by two servers, deletions, new pods).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoadedResource, ModelServer, PodStub, Resource } from '../resources/types.ts';
import { SnapshotStore } from './snapshot-store.ts';
import type { RoutingSnapshot } from './types.ts';

const origin = (loadOrder: number) => ({ file: 'test', documentIndex: 0, loadOrder });

function server(name: string, matchLabels: Record<string, string>): ModelServer {
  return {
    apiVersion: 'networking.serving.volcano.sh/v1alpha1',
    kind: 'ModelServer',
    metadata: { name, namespace: 'ns', labels: {}, annotations: {} },
    spec: { workloadSelector: { matchLabels }, workloadPort: { port: 8000 }, inferenceEngine: 'vLLM' },
  } as ModelServer;
}

function pod(name: string, labels: Record<string, string>, ready: boolean, port: number): PodStub {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns', labels, annotations: { 'switchyard.dev/port': String(port) } },
    status: { podIP: '127.0.0.1', phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

function view(snapshot: RoutingSnapshot): object {
  return {
    servers: Object.fromEntries([...snapshot.servers].map(([k, s]) => [k, s.pods.map((p) => `${p.podKey}@${p.origin}`)])),
    endpoints: [...snapshot.endpoints.keys()].sort(),
    pods: snapshot.stats.pods,
  };
}

function loaded(resources: readonly Resource[]): LoadedResource[] {
  return resources.map((resource, i) => ({ resource, origin: origin(i) }));
}

describe('SnapshotStore.applyPodChanges', () => {
  it('matches a full compile after every step of random pod churn', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const servers = [server('a', { app: 'a' }), server('b', { app: 'b' }), server('ab', { tier: 'gpu' }), server('c', { app: 'c', tier: 'gpu' })];
    const apps = ['a', 'b', 'c', 'x'];
    const pods = new Map<string, PodStub>();
    const make = (i: number): PodStub => {
      const labels: Record<string, string> = { app: apps[random(apps.length)] };
      if (random(2) === 0) labels.tier = 'gpu';
      return pod(`p${i}`, labels, random(3) !== 0, 9000 + random(4));
    };
    for (let i = 0; i < 20; i++) pods.set(`ns/p${i}`, make(i));

    const store = new SnapshotStore();
    assert.ok(store.apply({ source: 'test', resources: loaded([...servers, ...pods.values()]), issues: [] }).accepted);
    let swaps = 0;
    store.onSwap(() => swaps++);
    for (let step = 0; step < 300; step++) {
      const upserted: PodStub[] = [];
      const removed: string[] = [];
      for (let n = 1 + random(3); n > 0; n--) {
        const i = random(25);
        if (random(5) === 0) {
          if (pods.delete(`ns/p${i}`)) removed.push(`ns/p${i}`);
        } else {
          const next = make(i);
          pods.set(`ns/p${i}`, next);
          upserted.push(next);
        }
      }
      store.applyPodChanges({ upserted, removed });
      const full = new SnapshotStore();
      const expected = full.apply({ source: 'test', resources: loaded([...servers, ...pods.values()]), issues: [] });
      assert.ok(expected.accepted);
      assert.deepEqual(view(store.snapshot!), view(expected.snapshot), `step ${step}`);
    }
    assert.ok(swaps > 0);
  });

  it('leaves the snapshot alone when no ModelServer selects the pod, and shares the routes', () => {
    const store = new SnapshotStore();
    store.apply({ source: 'test', resources: loaded([server('a', { app: 'a' })]), issues: [] });
    const before = store.snapshot!;
    assert.equal(store.applyPodChanges({ upserted: [pod('other', { app: 'z' }, true, 1)], removed: [] }), null);
    assert.equal(store.snapshot, before);
    const next = store.applyPodChanges({ upserted: [pod('p', { app: 'a' }, true, 1)], removed: [] })!;
    assert.equal(next.routesByModel, before.routesByModel);
    assert.equal(next.generation, before.generation + 1);
    assert.deepEqual(next.servers.get('ns/a')!.pods.map((p) => p.name), ['p']);
  });
});
