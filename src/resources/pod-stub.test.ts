import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertIssues, load, type ExpectedIssue } from './test-helpers.ts';

// What `kubectl get pod -o yaml` prints, trimmed a little.
const REAL_POD = `
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2025-08-20T08:15:02Z"
  generateName: deepseek-r1-1-5b-7d9c6b8f4-
  labels:
    app: deepseek-r1-1-5b
    pod-template-hash: 7d9c6b8f4
  annotations:
    switchyard.dev/port: "8001"
  name: deepseek-r1-1-5b-7d9c6b8f4-x2kqp
  namespace: default
  ownerReferences:
  - apiVersion: apps/v1
    kind: ReplicaSet
    name: deepseek-r1-1-5b-7d9c6b8f4
    uid: 0a4e1c2b-1111-4222-8333-444455556666
  resourceVersion: "84121"
  uid: 5b0c8a41-aaaa-4bbb-8ccc-dddddddddddd
spec:
  containers:
  - image: ghcr.io/yaozengzeng/vllm-mock:latest
    name: llm-engine
    ports:
    - containerPort: 8000
      protocol: TCP
    resources: {}
  nodeName: worker-1
  restartPolicy: Always
status:
  conditions:
  - lastProbeTime: null
    lastTransitionTime: "2025-08-20T08:15:10Z"
    status: "True"
    type: Ready
  - lastProbeTime: null
    status: "True"
    type: PodScheduled
  containerStatuses:
  - name: llm-engine
    ready: true
    restartCount: 0
    state: {running: {startedAt: "2025-08-20T08:15:09Z"}}
  hostIP: 172.18.0.2
  phase: Running
  podIP: 10.244.0.12
  podIPs:
  - ip: 10.244.0.12
  qosClass: BestEffort
  startTime: "2025-08-20T08:15:02Z"
`;

describe('Pod stubs', () => {
  it('a real Pod manifest loads silently, reduced to metadata and status', () => {
    const { resources, issues } = load(REAL_POD);
    assertIssues(issues, []);
    assert.deepEqual(resources[0], {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'deepseek-r1-1-5b-7d9c6b8f4-x2kqp',
        namespace: 'default',
        labels: { app: 'deepseek-r1-1-5b', 'pod-template-hash': '7d9c6b8f4' },
        annotations: { 'switchyard.dev/port': '8001' },
        creationTimestamp: '2025-08-20T08:15:02Z',
        resourceVersion: '84121',
      },
      status: {
        podIP: '10.244.0.12',
        phase: 'Running',
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'PodScheduled', status: 'True' },
        ],
        containerStatuses: [{ state: { running: { startedAt: '2025-08-20T08:15:09Z' } } }],
      },
    });
  });

  it('a minimal stub gets an empty status', () => {
    const { resources, issues } = load('apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: a}}\n');
    assertIssues(issues, []);
    assert.deepEqual(resources[0], {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', labels: { app: 'a' }, annotations: {} },
      status: {},
    });
  });

  const stub = (metadataExtra: string, status: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: p${metadataExtra}}\nstatus: ${status}\n`;
  const PORT = 'metadata.annotations["switchyard.dev/port"]';
  const BOOTSTRAP = 'metadata.annotations["switchyard.dev/bootstrap-port"]';
  const cases: [string, string, string, ExpectedIssue[]][] = [
    ['an IPv6 pod IP', '', '{podIP: "fd00::12"}', []],
    ['an invalid pod IP', '', '{podIP: 10.244.0.300}', [['error', 'status.podIP', '"10.244.0.300" is not a valid IPv4 or IPv6 address']]],
    ['a deleting pod', ', deletionTimestamp: "2025-08-20T09:00:00Z"', '{phase: Running}', []],
    ['an unknown condition status', '', '{conditions: [{type: Ready, status: Maybe}]}', [['error', 'status.conditions[0].status', 'must be one of True, False, Unknown; got "Maybe"']]],
    ['a container start time', '', '{containerStatuses: [{state: {running: {startedAt: "2025-08-20T08:15:09Z"}}}, {state: {waiting: {}}}]}', []],
    ['a container start time that is not a time', '', '{containerStatuses: [{state: {running: {startedAt: "yesterday"}}}]}', [['error', 'status.containerStatuses[0].state.running.startedAt', 'must be an RFC 3339 time']]],
    ['a port annotation', ', annotations: {switchyard.dev/port: "65535"}', '{}', []],
    ['a port annotation that is not a number', ', annotations: {switchyard.dev/port: "http"}', '{}', [['error', PORT, 'must be a port number from 1 to 65535, got "http"']]],
    ['a port annotation of 0', ', annotations: {switchyard.dev/port: "0"}', '{}', [['error', PORT, 'got "0"']]],
    ['a port annotation above 65535', ', annotations: {switchyard.dev/port: "65536"}', '{}', [['error', PORT, 'got "65536"']]],
    ['a port annotation with a sign', ', annotations: {switchyard.dev/port: "+80"}', '{}', [['error', PORT, 'got "+80"']]],
    ['an unquoted port annotation', ', annotations: {switchyard.dev/port: 8080}', '{}', [['error', PORT, 'annotation values must be strings; quote the value']]],
    ['a bootstrap-port annotation', ', annotations: {switchyard.dev/bootstrap-port: "8998"}', '{}', []],
    ['a bootstrap-port annotation that is not a number', ', annotations: {switchyard.dev/bootstrap-port: "sglang"}', '{}', [['error', BOOTSTRAP, 'must be a port number from 1 to 65535, got "sglang"']]],
    ['a bootstrap-port annotation of 0', ', annotations: {switchyard.dev/bootstrap-port: "0"}', '{}', [['error', BOOTSTRAP, 'got "0"']]],
    ['a bootstrap-port annotation above 65535', ', annotations: {switchyard.dev/bootstrap-port: "70000"}', '{}', [['error', BOOTSTRAP, 'got "70000"']]],
    ['both port annotations wrong', ', annotations: {switchyard.dev/port: "x", switchyard.dev/bootstrap-port: "-1"}', '{}', [['error', PORT, 'got "x"'], ['error', BOOTSTRAP, 'got "-1"']]],
  ];
  for (const [name, metadataExtra, status, expected] of cases) {
    it(name, () => {
      const { resources, issues } = load(stub(metadataExtra, status));
      assertIssues(issues, expected);
      assert.equal(resources.length, expected.length === 0 ? 1 : 0);
    });
  }
});
