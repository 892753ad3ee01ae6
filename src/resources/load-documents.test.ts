import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadResourcesFromTexts, parseResourceDocuments, type ParseCache } from './load-documents.ts';
import { assertIssues, load } from './test-helpers.ts';
import { formatIssue, type ModelRoute, type ModelServer } from './types.ts';

// The routing examples of Kthena's router-routing.md, exactly as users have them.
const SEED_ROUTES = `
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: deepseek-simple
  namespace: default
spec:
  modelName: "deepseek-simple"
  rules:
  - name: "default"
    targetModels:
    - modelServerName: "deepseek-r1-1-5b"
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: deepseek-lora
  namespace: default
spec:
  loraAdapters:
  - "lora-A"
  - "lora-B"
  rules:
  - name: "lora-route"
    targetModels:
    - modelServerName: "deepseek-r1-1-5b"
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: deepseek-subset
  namespace: default
spec:
  modelName: "deepseek-subset"
  rules:
  - name: "deepseek-r1-route"
    targetModels:
    - modelServerName: "deepseek-r1-1-5b-v1"
      weight: 70
    - modelServerName: "deepseek-r1-1-5b-v2"
      weight: 30
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: deepseek-multi-models
  namespace: default
spec:
  modelName: "deepseek-multi-models"
  rules:
  - name: "premium"
    modelMatch:
      headers:
        user-type:
          exact: premium
    targetModels:
    - modelServerName: "deepseek-r1-7b"
  - name: "default"
    targetModels:
    - modelServerName: "deepseek-r1-1-5b"
`;

const SEED_PD = `
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata:
  name: deepseek-r1-1-5b-pd-disaggregation
  namespace: default
spec:
  workloadSelector:
    matchLabels:
      app: deepseek-r1-1-5b
    pdGroup:
      groupKey: "modelserving.volcano.sh/group-name"
      prefillLabels:
        modelserving.volcano.sh/rolename: "P-instance"
      decodeLabels:
        modelserving.volcano.sh/rolename: "D-instance"
  workloadPort:
    port: 8000
  model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
  inferenceEngine: "vLLM"
  trafficPolicy:
    timeout: 10s
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: deepseek-r1-1-5b-pd-disaggregation
  namespace: default
spec:
  modelName: "deepseek-r1-1-5b-pd-disaggregation"
  rules:
  - name: "default"
    targetModels:
    - modelServerName: "deepseek-r1-1-5b-pd-disaggregation"
`;

const KTHENA_MODEL_SERVER = `
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata:
  name: deepseek-r1-1-5b
  namespace: default
spec:
  workloadSelector:
    matchLabels:
      app: deepseek-r1-1-5b
  workloadPort:
    port: 8000
  model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
  inferenceEngine: "vLLM"
  trafficPolicy:
    timeout: 10s
`;

describe('Kthena example YAML loads unchanged', () => {
  it('the four routing examples load with defaults applied', () => {
    const { resources, issues } = load(SEED_ROUTES, 'routes.yaml');
    assertIssues(issues, []);
    const routes = resources as ModelRoute[];
    assert.deepEqual(
      routes.map((route) => route.metadata.name),
      ['deepseek-simple', 'deepseek-lora', 'deepseek-subset', 'deepseek-multi-models'],
    );
    assert.deepEqual(routes[0], {
      apiVersion: 'networking.serving.volcano.sh/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'deepseek-simple', namespace: 'default', labels: {}, annotations: {} },
      spec: {
        modelName: 'deepseek-simple',
        loraAdapters: [],
        parentRefs: [],
        rules: [{ name: 'default', targetModels: [{ modelServerName: 'deepseek-r1-1-5b', weight: 100 }] }],
      },
    });
    assert.deepEqual(routes[1]?.spec.loraAdapters, ['lora-A', 'lora-B']);
    assert.equal(routes[1]?.spec.modelName, undefined);
    assert.deepEqual(routes[2]?.spec.rules[0]?.targetModels.map((target) => target.weight), [70, 30]);
    assert.deepEqual(routes[3]?.spec.rules[0]?.modelMatch, { headers: { 'user-type': { exact: 'premium' } } });
    assert.deepEqual(routes[3]?.spec.rules[1]?.targetModels, [{ modelServerName: 'deepseek-r1-1-5b', weight: 100 }]);
  });

  it('the PD-disaggregation ModelServer and its ModelRoute load', () => {
    const { resources, issues } = load(SEED_PD);
    assertIssues(issues, []);
    assert.deepEqual(resources.map((resource) => resource.kind), ['ModelServer', 'ModelRoute']);
    const server = resources[0] as ModelServer;
    assert.deepEqual(server.spec.workloadSelector.pdGroup, {
      groupKey: 'modelserving.volcano.sh/group-name',
      prefillLabels: { 'modelserving.volcano.sh/rolename': 'P-instance' },
      decodeLabels: { 'modelserving.volcano.sh/rolename': 'D-instance' },
    });
  });

  it('a Kthena-style ModelServer loads with its timeout in milliseconds', () => {
    const { resources, issues } = load(KTHENA_MODEL_SERVER);
    assertIssues(issues, []);
    assert.deepEqual(resources[0], {
      apiVersion: 'networking.serving.volcano.sh/v1alpha1',
      kind: 'ModelServer',
      metadata: { name: 'deepseek-r1-1-5b', namespace: 'default', labels: {}, annotations: {} },
      spec: {
        model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B',
        inferenceEngine: 'vLLM',
        workloadSelector: { matchLabels: { app: 'deepseek-r1-1-5b' } },
        workloadPort: { port: 8000, protocol: 'http' },
        trafficPolicy: { timeoutMs: 10_000 },
      },
    });
  });

  it('kubectl get -o yaml output (server-set metadata, status, null fields) loads silently', () => {
    const text = `
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata:
  creationTimestamp: "2025-08-01T10:00:00Z"
  generation: 3
  resourceVersion: "12345"
  uid: 6f1c1a0e-0000-4000-8000-000000000000
  managedFields: [{manager: kubectl, operation: Update}]
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
  name: deepseek-r1-7b
  namespace: team-a
spec:
  inferenceEngine: SGLang
  kvConnector: {}
  trafficPolicy:
    retry:
      attempts: 3
  workloadPort:
    port: 30000
  workloadSelector:
    matchLabels:
      app: deepseek-r1-7b
    pdGroup: null
status: {}
`;
    const { resources, issues } = load(text);
    assertIssues(issues, []);
    const server = resources[0] as ModelServer;
    assert.equal(server.metadata.namespace, 'team-a');
    assert.equal(server.metadata.creationTimestamp, '2025-08-01T10:00:00Z');
    assert.equal(server.metadata.resourceVersion, '12345');
    assert.deepEqual(server.spec.kvConnector, { type: 'http' });
    assert.deepEqual(server.spec.trafficPolicy, { retry: { attempts: 3, retryIntervalMs: 100 } });
    assert.equal(server.spec.workloadSelector.pdGroup, undefined);
  });
});

describe('parseResourceDocuments', () => {
  it('reports YAML syntax errors with line, column and document index', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\nkind: ModelRoute\nspec:\n  rules: [1,\n  x: 2\n';
    const { resources, issues } = load(text);
    assert.equal(resources.length, 1, 'the valid first document still parses');
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.documentIndex, 1);
    assert.match(issues[0]?.message ?? '', /^YAML syntax error at line 8, column \d+: /);
  });

  it('reports duplicate mapping keys as a syntax error', () => {
    const { issues } = load('kind: Pod\nkind: Pod\n');
    assertIssues(issues, [['error', '', 'YAML syntax error at line 2, column 1: Map keys must be unique']]);
  });

  it('skips empty and comment-only documents but still counts them', () => {
    const text = '---\n# nothing here\n---\n\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n';
    const result = parseResourceDocuments(text, 'pods.yaml', 7);
    assertIssues(result.issues, []);
    assert.deepEqual(result.resources[0]?.origin, { file: 'pods.yaml', documentIndex: 2, loadOrder: 7 });
  });

  it('rejects documents that are not mappings', () => {
    const { issues } = load('- a\n- b\n---\njust a string\n');
    assertIssues(issues, [
      ['error', '', 'expected a mapping with apiVersion, kind, metadata and spec, got a list'],
      ['error', '', 'got "just a string"'],
    ]);
    assert.deepEqual(issues.map((issue) => issue.documentIndex), [0, 1]);
  });

  it('skips kinds Switchyard does not use with exactly one warning each', () => {
    const text = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: mock-llm}
spec: {replicas: 2, template: {spec: {containers: [{name: llm, image: mock}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: mock-llm, namespace: llm}
spec: {ports: [{port: 80}]}
---
apiVersion: workload.serving.volcano.sh/v1alpha1
kind: ModelServing
metadata: {name: ds}
`;
    const { resources, issues } = load(text);
    assert.equal(resources.length, 0);
    assertIssues(issues, [
      ['warning', '', 'kind Deployment is not used by Switchyard; skipped'],
      ['warning', '', 'kind Service is not used by Switchyard; skipped'],
      ['warning', '', 'kind ModelServing is not used by Switchyard; skipped'],
    ]);
    assert.deepEqual(issues.map((issue) => issue.object), ['Deployment default/mock-llm', 'Service llm/mock-llm', 'ModelServing default/ds']);
  });

  it('rejects a kind that Kthena\'s networking group does not define, with a hint for a case or plural typo', () => {
    const text = ['Modelroute', 'ModelServers', 'externalmodelproviders', 'ModelRouter']
      .map((kind) => `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ${kind}\nmetadata: {name: r}\nspec: {}\n`)
      .join('---\n');
    const { resources, issues } = load(text);
    assert.equal(resources.length, 0);
    const notAKind = 'is not a kind of networking.serving.volcano.sh (ModelRoute, ModelServer, ExternalModelProvider)';
    assertIssues(issues, [
      ['error', 'kind', `Modelroute ${notAKind}; did you mean ModelRoute?`],
      ['error', 'kind', `ModelServers ${notAKind}; did you mean ModelServer?`],
      ['error', 'kind', `externalmodelproviders ${notAKind}; did you mean ExternalModelProvider?`],
      ['error', 'kind', `ModelRouter ${notAKind}`],
    ]);
    assert.ok(!issues[3]?.message.includes('did you mean'));
  });

  it('rejects our kinds with a wrong or missing apiVersion, and documents without a kind', () => {
    const text = `
apiVersion: networking.serving.volcano.sh/v1beta1
kind: ModelRoute
metadata: {name: r}
---
kind: ModelServer
metadata: {name: s}
---
apiVersion: apps/v1
kind: Pod
metadata: {name: p}
---
apiVersion: v1
metadata: {name: nothing}
`;
    assertIssues(load(text).issues, [
      ['error', 'apiVersion', 'ModelRoute must have apiVersion networking.serving.volcano.sh/v1alpha1; got "networking.serving.volcano.sh/v1beta1"'],
      ['error', 'apiVersion', 'ModelServer must have apiVersion networking.serving.volcano.sh/v1alpha1; it is missing'],
      ['error', 'apiVersion', 'Pod must have apiVersion v1; got "apps/v1"'],
      ['error', 'kind', 'is required'],
    ]);
  });

  it('expands kind List; items keep the document index and get an items[i] path', () => {
    const text = `
apiVersion: v1
kind: List
items:
- apiVersion: networking.serving.volcano.sh/v1alpha1
  kind: ModelRoute
  metadata: {name: good}
  spec: {modelName: good, rules: [{targetModels: [{modelServerName: s}]}]}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: d}
- apiVersion: networking.serving.volcano.sh/v1alpha1
  kind: ModelRoute
  metadata: {name: bad}
  spec: {modelName: bad, rules: [{targetModels: [{modelServerName: s, weight: 200}]}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: p}
`;
    const result = parseResourceDocuments(`kind: Pod\napiVersion: v1\nmetadata: {name: first}\n---${text}`, 'list.yaml', 10);
    assert.deepEqual(
      result.resources.map(({ resource, origin }) => [resource.metadata.name, origin.documentIndex, origin.loadOrder]),
      [['first', 0, 10], ['good', 1, 11], ['p', 1, 12]],
    );
    assertIssues(result.issues, [
      ['warning', 'items[1]', 'kind Deployment is not used by Switchyard; skipped'],
      ['error', 'items[2].spec.rules[0].targetModels[0].weight', 'must be at most 100, got 200'],
    ]);
    assert.equal(result.issues[1]?.object, 'ModelRoute default/bad');
  });

  it('rejects a List whose items is not a list, and Lists nested in Lists', () => {
    const text = 'apiVersion: v1\nkind: List\nitems: {a: 1}\n---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: List, items: []}]\n';
    assertIssues(load(text).issues, [
      ['error', 'items', 'must be a list'],
      ['error', 'items[0]', 'a List inside a list is not supported'],
    ]);
  });

  it('names file, document, object and field in messages that read well', () => {
    const text = `${SEED_ROUTES.replace('weight: 70', 'weight: 0').replace('weight: 30', 'weight: 0')}`;
    const { issues } = load(text, 'routes.yaml');
    assert.deepEqual(issues.map(formatIssue), [
      'error: routes.yaml, document 2, ModelRoute default/deepseek-subset: field spec.rules[0].targetModels: total weight must be greater than zero',
    ]);
  });
});

describe('loadResourcesFromTexts and validateResourceSet', () => {
  const route = (name: string, namespace = 'default') =>
    `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {modelName: m, rules: [{targetModels: [{modelServerName: s}]}]}\n`;

  it('assigns loadOrder across files in the given order', () => {
    const { resources, issues } = loadResourcesFromTexts([
      { file: 'a.yaml', text: `${route('a1')}---\n${route('a2')}` },
      { file: 'b.yaml', text: route('b1') },
    ]);
    assertIssues(issues, []);
    assert.deepEqual(
      resources.map(({ resource, origin }) => [resource.metadata.name, origin.file, origin.documentIndex, origin.loadOrder]),
      [['a1', 'a.yaml', 0, 0], ['a2', 'a.yaml', 1, 1], ['b1', 'b.yaml', 0, 2]],
    );
  });

  it('with a parse cache, parses only changed files and keeps loadOrder and duplicate checks exact', () => {
    const cache: ParseCache = new Map();
    const first = loadResourcesFromTexts([
      { file: 'a.yaml', text: route('a1') },
      { file: 'b.yaml', text: `${route('b1')}---\n${route('b2')}` },
    ], cache);
    const second = loadResourcesFromTexts([
      { file: 'a.yaml', text: `${route('a1')}---\n${route('a2')}` },
      { file: 'b.yaml', text: `${route('b1')}---\n${route('b2')}` },
    ], cache);
    // b.yaml was not parsed again: the same resource objects, with loadOrder shifted behind the grown a.yaml.
    assert.equal(second.resources[2].resource, first.resources[1].resource);
    assert.deepEqual(second.resources.map((r) => [r.resource.metadata.name, r.origin.loadOrder]), [['a1', 0], ['a2', 1], ['b1', 2], ['b2', 3]]);
    assert.equal(first.resources[1].origin.loadOrder, 1, 'the earlier result is not changed');
    const third = loadResourcesFromTexts([{ file: 'b.yaml', text: `${route('b1')}---\n${route('b1')}` }], cache);
    assert.deepEqual([...cache.keys()], ['b.yaml'], 'files no longer loaded leave the cache');
    assert.match(formatIssue(third.issues[0]), /defined twice/);
  });

  it('reports the same kind, namespace and name defined twice, naming both places', () => {
    const { issues } = loadResourcesFromTexts([
      { file: 'a.yaml', text: `${route('dup')}---\n${route('dup', 'other')}` },
      { file: 'b.yaml', text: `${route('other')}---\n${route('dup')}` },
    ]);
    assert.deepEqual(issues.map(formatIssue), [
      'error: b.yaml, document 1, ModelRoute default/dup: defined twice: first in a.yaml document 0, again in b.yaml document 1',
    ]);
  });

  it('does not treat the same name in another kind as a duplicate, nor check cross-references', () => {
    const server = 'apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelServer\nmetadata: {name: dup}\nspec: {inferenceEngine: vLLM, workloadSelector: {matchLabels: {app: a}}, workloadPort: {port: 80}}\n';
    const { resources, issues } = loadResourcesFromTexts([{ file: 'a.yaml', text: `${route('dup')}---\n${server}` }]);
    assertIssues(issues, []);
    assert.equal(resources.length, 2);
  });
});
