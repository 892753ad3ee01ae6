import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResourceDocuments } from '../resources/load-documents.ts';
import { compileSnapshot } from './compile-snapshot.ts';
import type { CompiledServer } from './types.ts';
import { WeightedPickerRegistry } from './weighted-picker.ts';

const GROUP = 'modelserving.volcano.sh/group-name';
const ROLE = 'modelserving.volcano.sh/rolename';

function server(pdGroup: string | null): string {
  return `apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata: {name: pd, namespace: default}
spec:
  workloadSelector:
    matchLabels: {app: m}
${pdGroup ?? ''}
  workloadPort: {port: 8000}
  inferenceEngine: vLLM`;
}

const SEED_PD_GROUP = `    pdGroup:
      groupKey: "${GROUP}"
      prefillLabels: {${ROLE}: P-instance}
      decodeLabels: {${ROLE}: D-instance}`;

function pod(name: string, labels: Record<string, string>, ready = true): string {
  const all = { app: 'm', ...labels };
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default
  labels: {${Object.entries(all).map(([k, v]) => `"${k}": "${v}"`).join(', ')}}
status:
  podIP: 10.0.0.${name.length}
  phase: ${ready ? 'Running' : 'Pending'}`;
}

function compile(docs: string[]): CompiledServer {
  const loaded = parseResourceDocuments(docs.join('\n---\n'), 'test.yaml', 0);
  assert.deepEqual(loaded.issues.filter((i) => i.severity === 'error'), []);
  const { snapshot } = compileSnapshot(loaded.resources, 1, new WeightedPickerRegistry());
  const compiled = snapshot.servers.get('default/pd');
  assert.ok(compiled);
  return compiled;
}

const names = (pods: readonly { name: string }[]): string[] => pods.map((p) => p.name);

describe('PD classification in the snapshot', () => {
  const pods = [
    pod('p-a', { [GROUP]: 'a', [ROLE]: 'P-instance' }),
    pod('d-a', { [GROUP]: 'a', [ROLE]: 'D-instance' }),
    pod('p-b', { [GROUP]: 'b', [ROLE]: 'P-instance' }),
    pod('d-b1', { [GROUP]: 'b', [ROLE]: 'D-instance' }),
    pod('d-b0', { [GROUP]: 'b', [ROLE]: 'D-instance' }),
    // Decode only: group c has no prefill pod, so its decode pod is no candidate.
    pod('d-c', { [GROUP]: 'c', [ROLE]: 'D-instance' }),
    // No group label, or an empty one: no part in PD.
    pod('p-none', { [ROLE]: 'P-instance' }),
    pod('d-empty', { [GROUP]: '', [ROLE]: 'D-instance' }),
    // Neither role.
    pod('x-a', { [GROUP]: 'a', [ROLE]: 'other' }),
    // Not ready.
    pod('p-slow', { [GROUP]: 'c', [ROLE]: 'P-instance' }, false),
  ];

  it('classes pods by role and by the value of groupKey', () => {
    const pd = compile([server(SEED_PD_GROUP), ...pods]).pd;
    assert.ok(pd);
    assert.equal(pd.groupKey, GROUP);
    assert.deepEqual([...pd.groups.keys()], ['a', 'b', 'c']);
    assert.deepEqual(names(pd.groups.get('a')!.prefill), ['p-a']);
    assert.deepEqual(names(pd.groups.get('a')!.decode), ['d-a']);
    assert.deepEqual(names(pd.groups.get('b')!.decode), ['d-b0', 'd-b1'], 'sorted by pod key');
    assert.deepEqual(names(pd.groups.get('c')!.prefill), [], 'the not-ready prefill pod is out');
    assert.deepEqual(names(pd.decodePods), ['d-a', 'd-b0', 'd-b1'], 'only groups with both roles give decode candidates');
    assert.deepEqual([...pd.prefillPodsByGroup.keys()], ['a', 'b']);
    assert.equal(pd.groupOf.get('default/d-b1'), 'b');
    assert.equal(pd.groupOf.get('default/p-none'), undefined);
    assert.equal(pd.groupOf.get('default/d-empty'), undefined);
    assert.equal(pd.roleOf.get('default/x-a'), undefined);
  });

  it('classes a pod matching both label sets as decode', () => {
    const both = `    pdGroup:
      groupKey: "${GROUP}"
      prefillLabels: {tier: gpu}
      decodeLabels: {${ROLE}: D-instance}`;
    const pd = compile([
      server(both),
      pod('both', { [GROUP]: 'a', tier: 'gpu', [ROLE]: 'D-instance' }),
      pod('pre', { [GROUP]: 'a', tier: 'gpu' }),
    ]).pd!;
    assert.equal(pd.roleOf.get('default/both'), 'decode');
    assert.equal(pd.roleOf.get('default/pre'), 'prefill');
    assert.deepEqual(names(pd.decodePods), ['both']);
  });

  it('is null without a pdGroup, and follows a changed pdGroup', () => {
    assert.equal(compile([server(null), ...pods]).pd, null);
    // The same pods, with the roles' labels swapped: every pod changes class.
    const swapped = `    pdGroup:
      groupKey: "${GROUP}"
      prefillLabels: {${ROLE}: D-instance}
      decodeLabels: {${ROLE}: P-instance}`;
    const pd = compile([server(swapped), ...pods]).pd!;
    assert.deepEqual(names(pd.decodePods), ['p-a', 'p-b']);
    assert.deepEqual(names(pd.prefillPodsByGroup.get('b')!), ['d-b0', 'd-b1']);
    // Another group key: nothing carries it, so nothing takes part.
    const otherKey = compile([server(SEED_PD_GROUP.replace(GROUP, 'example.com/pd-group')), ...pods]).pd!;
    assert.equal(otherKey.groups.size, 0);
    assert.deepEqual(otherKey.decodePods, []);
  });
});
