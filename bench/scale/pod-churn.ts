// Pod churn at size, as Kubernetes mode applies it (SnapshotStore.applyPodChanges, with the router's swap
// listeners): one pod event at a time (a pod going unready or ready again), and a burst of 1,000 pod events that
// arrive together (the Kubernetes source coalesces them and hands them over POD_CHANGES_PER_TURN per event-loop
// turn, so each turn is one synchronous stretch). The event-loop time of each is what is measured, and apart from them the
// router's swap listeners, which after pod-only swaps run once per burst on a timer (router-app.ts).
import type { PodStub } from '../../src/resources/types.ts';
import type { SnapshotStore } from '../../src/snapshot/snapshot-store.ts';
import { POD_CHANGES_PER_TURN } from '../../src/sources/kubernetes/kubernetes-source.ts';
import type { PodEndpoint } from '../../src/snapshot/types.ts';

export interface Summary {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly max: number;
}

export interface PodChurnPhase {
  readonly singleEventMs: Summary;
  readonly events: number;
  readonly burstEvents: number;
  /** Each event-loop turn of a burst of burstEvents pods (POD_CHANGES_PER_TURN pods per turn). */
  readonly burstMs: Summary;
  /** The router's deferred swap listeners (pools, pod state, engine state, plugins) walking every endpoint once. */
  readonly followMs: Summary;
  readonly podsAfter: number;
}

function stubOf(pod: PodEndpoint, ready: boolean): PodStub {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels, annotations: pod.annotations },
    status: { podIP: pod.ip, phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

export function podChurnPhase(
  store: SnapshotStore,
  summarise: (values: ArrayLike<number>) => Summary,
  follow: () => void,
  events = 2000,
  burst = 1000,
  bursts = 10,
): PodChurnPhase {
  const pods: PodEndpoint[] = [];
  for (const server of store.snapshot!.servers.values()) pods.push(...server.pods);
  const expected = store.snapshot!.stats.pods;
  const single: number[] = [];
  for (let i = 0; i < events; i++) {
    // Even steps take a pod out, odd steps put the same pod back.
    const pod = pods[Math.floor(i / 2) * 7919 % pods.length];
    const started = process.hrtime.bigint();
    store.applyPodChanges({ upserted: [stubOf(pod, i % 2 === 1)], removed: [] });
    single.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  const followTimes: number[] = [];
  const burstTimes: number[] = [];
  for (let b = 0; b < bursts * 2; b++) {
    const upserted: PodStub[] = [];
    for (let i = 0; i < burst; i++) upserted.push(stubOf(pods[(Math.floor(b / 2) * burst + i) * 104729 % pods.length], b % 2 === 1));
    // As the Kubernetes source hands them over: POD_CHANGES_PER_TURN per event-loop turn.
    for (let at = 0; at < upserted.length; at += POD_CHANGES_PER_TURN) {
      const started = process.hrtime.bigint();
      store.applyPodChanges({ upserted: upserted.slice(at, at + POD_CHANGES_PER_TURN), removed: [] });
      burstTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    const followStarted = process.hrtime.bigint();
    follow();
    followTimes.push(Number(process.hrtime.bigint() - followStarted) / 1e6);
  }
  const podsAfter = store.snapshot!.stats.pods;
  if (podsAfter !== expected) throw new Error(`pod churn left ${podsAfter} ready pods, expected ${expected}`);
  return { singleEventMs: summarise(single), events, burstEvents: burst, burstMs: summarise(burstTimes), followMs: summarise(followTimes), podsAfter };
}
