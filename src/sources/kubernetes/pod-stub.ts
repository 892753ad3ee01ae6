// A Pod from the API server → the Pod stub the snapshot reads (only what routing needs). Built by hand rather than
// through the zod schema: pod churn is the hot path of Kubernetes mode.
import type { ContainerStatus, PodCondition, PodStub } from '../../resources/types.ts';

export interface ApiPod {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly deletionTimestamp?: string | Date;
  };
  readonly status?: {
    readonly podIP?: string;
    readonly phase?: string;
    readonly conditions?: readonly { readonly type?: string; readonly status?: string }[];
    /** Only the running containers' start times: KV-cache owners recorded before a restart are stale. */
    readonly containerStatuses?: readonly { readonly state?: { readonly running?: { readonly startedAt?: string | Date } } }[];
  };
}

export function podStubOf(pod: ApiPod): PodStub {
  const meta = pod.metadata ?? {};
  const status = pod.status ?? {};
  const deletion = meta.deletionTimestamp;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: meta.name ?? '',
      namespace: meta.namespace ?? 'default',
      labels: meta.labels ?? {},
      annotations: meta.annotations ?? {},
      ...(deletion !== undefined && { deletionTimestamp: deletion instanceof Date ? deletion.toISOString() : deletion }),
    },
    status: {
      ...(status.podIP !== undefined && status.podIP !== '' && { podIP: status.podIP }),
      // A pod the kubelet has not reported on yet has no phase: not ready (unlike a file stub without one).
      phase: status.phase ?? 'Pending',
      conditions: conditionsOf(status.conditions ?? []),
      ...(status.containerStatuses !== undefined && { containerStatuses: containerStatusesOf(status.containerStatuses) }),
    },
  };
}

/** In a cluster a pod is ready only with Ready=True: a missing Ready condition counts as Unknown. */
function conditionsOf(conditions: readonly { readonly type?: string; readonly status?: string }[]): PodCondition[] {
  const out = conditions.map((c) => ({ type: c.type ?? '', status: c.status ?? 'Unknown' }) as PodCondition);
  if (!out.some((c) => c.type === 'Ready')) out.push({ type: 'Ready', status: 'Unknown' });
  return out;
}

/** The client library gives times as Date objects, a file stub as RFC 3339 strings: the stub keeps strings. */
function containerStatusesOf(statuses: NonNullable<NonNullable<ApiPod['status']>['containerStatuses']>): ContainerStatus[] {
  return statuses.map((container) => {
    const startedAt = container.state?.running?.startedAt;
    if (startedAt === undefined) return {};
    return { state: { running: { startedAt: startedAt instanceof Date ? startedAt.toISOString() : startedAt } } };
  });
}
