// Prefill/decode classification of a ModelServer's pods (spec.workloadSelector.pdGroup), computed with every snapshot,
// so an edited pdGroup re-classes the pods at once (Kthena only classes a pod when the pod itself changes, §8.16).
//   - a pod matching decodeLabels is decode, even if it matches prefillLabels too; else prefillLabels → prefill;
//   - its group is the value of its groupKey label; a pod without that label (or with an empty value) takes no part.
import type { PDGroup } from '../resources/types.ts';
import { matchesLabels } from './pod-selection.ts';
import type { CompiledPd, PdGroupPods, PdRole, PodEndpoint } from './types.ts';

/** Classes `pods` (ready, sorted by pod key) by role and group; the lists keep that order. */
export function classifyPdPods(pdGroup: PDGroup, pods: readonly PodEndpoint[]): CompiledPd {
  const prefillSelector = Object.entries(pdGroup.prefillLabels);
  const decodeSelector = Object.entries(pdGroup.decodeLabels);
  const groups = new Map<string, { prefill: PodEndpoint[]; decode: PodEndpoint[] }>();
  const roleOf = new Map<string, PdRole>();
  const groupOf = new Map<string, string>();
  for (const pod of pods) {
    const group = pod.labels[pdGroup.groupKey];
    if (group === undefined || group === '') continue;
    const role: PdRole | null = matchesLabels(pod.labels, decodeSelector)
      ? 'decode'
      : matchesLabels(pod.labels, prefillSelector)
        ? 'prefill'
        : null;
    if (role === null) continue;
    let members = groups.get(group);
    if (members === undefined) groups.set(group, (members = { prefill: [], decode: [] }));
    members[role].push(pod);
    roleOf.set(pod.podKey, role);
    groupOf.set(pod.podKey, group);
  }

  const frozen = new Map<string, PdGroupPods>();
  const decodePods: PodEndpoint[] = [];
  const prefillPodsByGroup = new Map<string, readonly PodEndpoint[]>();
  for (const [group, members] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    frozen.set(group, members);
    // Only groups with both roles can serve: their decode pods are the candidates, their prefill pods the partners.
    if (members.prefill.length === 0 || members.decode.length === 0) continue;
    prefillPodsByGroup.set(group, members.prefill);
    decodePods.push(...members.decode);
  }
  decodePods.sort((a, b) => (a.podKey < b.podKey ? -1 : a.podKey > b.podKey ? 1 : 0));
  return { groupKey: pdGroup.groupKey, groups: frozen, decodePods, prefillPodsByGroup, groupOf, roleOf };
}
