// deploy/ on a real API server: `kubectl apply -k deploy/` is accepted whole; the CRDs the server stores have exactly
// the fields of the router's resource models (both ways); Kthena's example objects (the seed scenarios) apply with
// strict field validation and the router, reading them through deploy/'s RBAC, builds the same routing state as
// from the same YAML files; the CRDs' own validation refuses a bad object with a clear message.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { CRD_KINDS } from '../../deploy/generate-crds.ts';
import { startRouterApp, type RouterApp } from '../../src/cli/router-app.ts';
import { startMockEngine, type MockEngineHandle } from '../../src/mock-engine/index.ts';
import { API_GROUP } from '../../src/resources/types.ts';
import { FileSource } from '../../src/sources/file-source.ts';
import { SnapshotStore } from '../../src/snapshot/snapshot-store.ts';
import type { RoutingSnapshot } from '../../src/snapshot/types.ts';
import { post, waitFor } from '../support/harness.ts';
import { KubeCluster, envtestBinaries } from '../support/kube-cluster.ts';
import { createPod, setPodStatus } from '../support/kube-fixtures.ts';
import { REPO_DIR } from '../support/process.ts';

const binaries = envtestBinaries();
const EXAMPLES = join(REPO_DIR, 'examples/routing');

type Json = { type?: string; properties?: Record<string, Json>; items?: Json; additionalProperties?: Json | boolean };

/** Every field path of a schema ("a.b[].c", "{}" for map values), with its type. */
function fieldPaths(node: Json, prefix: string, out: Map<string, string>): Map<string, string> {
  out.set(prefix, node.type ?? 'any');
  for (const [name, child] of Object.entries(node.properties ?? {})) fieldPaths(child, `${prefix}.${name}`, out);
  if (node.items !== undefined) fieldPaths(node.items, `${prefix}[]`, out);
  if (typeof node.additionalProperties === 'object') fieldPaths(node.additionalProperties, `${prefix}{}`, out);
  return out;
}

/** A snapshot reduced to what routing uses: route keys per model/LoRA name, ready pod names per ModelServer. */
function routingState(snapshot: RoutingSnapshot): object {
  const routes = (map: ReadonlyMap<string, readonly { key: string }[]>) =>
    Object.fromEntries([...map].map(([name, list]): [string, string[]] => [name, list.map((r) => r.key)]).sort()) as Record<string, string[]>;
  return {
    models: routes(snapshot.routesByModel),
    loras: routes(snapshot.routesByLora),
    servers: Object.fromEntries([...snapshot.servers].map(([key, s]) => [key, s.pods.map((p) => p.name)]).sort()),
  };
}

describe('deploy/ on a real API server', { skip: 'skip' in binaries ? binaries.skip : false }, () => {
  let cluster: KubeCluster;
  let router: RouterApp | null = null;
  const mocks: MockEngineHandle[] = [];

  before(async () => {
    cluster = await KubeCluster.start((binaries as { dir: string }).dir);
  });

  after(async () => {
    await router?.shutdown(1000);
    await Promise.allSettled(mocks.map((m) => m.close()));
    await cluster?.stop();
  });

  it('kubectl apply -k deploy/ is accepted whole (CRDs, RBAC, Deployment, Services, ConfigMap)', () => {
    const out = cluster.kubectl(['apply', '-k', join(REPO_DIR, 'deploy')]);
    for (const object of ['customresourcedefinition.apiextensions.k8s.io/modelroutes.networking.serving.volcano.sh',
      'clusterrole.rbac.authorization.k8s.io/switchyard-router', 'deployment.apps/switchyard', 'service/switchyard-metrics',
      'configmap/switchyard-router-config']) {
      assert.match(out, new RegExp(`${object.replaceAll('.', '\\.')} created`));
    }
    cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  });

  it('stores CRDs whose spec fields are exactly those of the resource models, both ways', () => {
    for (const { kind, plural, schema } of CRD_KINDS) {
      const crd = JSON.parse(cluster.kubectl(['get', 'crd', `${plural}.${API_GROUP}`, '-o', 'json'])) as {
        spec: { versions: { schema: { openAPIV3Schema: Json } }[] };
      };
      const served = fieldPaths(crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec, 'spec', new Map());
      const model = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
      const modelled = fieldPaths(model.properties!.spec, 'spec', new Map());
      assert.deepEqual([...served.keys()].filter((p) => !modelled.has(p)), [], `${kind}: CRD fields the router does not model`);
      assert.deepEqual([...modelled.keys()].filter((p) => !served.has(p)), [], `${kind}: modelled fields missing from the CRD`);
      for (const [path, type] of modelled) assert.equal(served.get(path), type, `${kind} ${path}`);
    }
  });

  it('refuses a bad ModelRoute through the CRD validation, with the field named', () => {
    const bad = {
      apiVersion: `${API_GROUP}/v1alpha1`, kind: 'ModelRoute', metadata: { name: 'bad', namespace: 'default' },
      spec: { modelName: 'm', rules: [{ targetModels: [{ modelServerName: 's', weight: 150 }] }] },
    };
    const result = cluster.kubectlResult(['apply', '-f', '-'], JSON.stringify(bad));
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /spec\.rules\[0\]\.targetModels\[0\]\.weight: Invalid value: 150: spec\.rules\[0\]\.targetModels\[0\]\.weight in body should be less than or equal to 100/);
    const both = { ...bad, spec: { modelName: 'm', rules: [{ targetModels: [{ modelServerName: 's', externalModelProviderName: 'p' }] }] } };
    assert.match(cluster.kubectlResult(['apply', '-f', '-'], JSON.stringify(both)).stderr, /exactly one of modelServerName or externalModelProviderName must be set/);
  });

  it('serves the seed scenarios applied with kubectl exactly as from the same files', async () => {
    const objects = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml') && f !== 'pods.yaml').map((f) => join(EXAMPLES, f));
    cluster.kubectl(['apply', '--validate=strict', ...objects.flatMap((f) => ['-f', f])]);
    // The pods of pods.yaml, as a kubelet would run them: mock engines on loopback, status written by the test.
    for (const doc of parseAllDocuments(readFileSync(join(EXAMPLES, 'pods.yaml'), 'utf8'))) {
      const pod = doc.toJS() as { metadata: { name: string; labels: Record<string, string> } } | null;
      if (pod === null) continue;
      const mock = await startMockEngine({ port: 0, host: '127.0.0.1', model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B', instanceName: pod.metadata.name });
      mocks.push(mock);
      createPod(cluster, pod.metadata.name, pod.metadata.labels, mock.port);
      setPodStatus(cluster, pod.metadata.name, true);
    }
    router = await startRouterApp({
      configPaths: [],
      kubernetes: { kubeconfig: cluster.routerKubeconfig, namespaces: ['default'] },
      port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0, metricsPort: null, debugPort: null, accessLog: null, logger: pino({ level: 'silent' }),
    });
    const fromFiles = new SnapshotStore();
    const accepted = fromFiles.apply(await new FileSource({ paths: [EXAMPLES], debounceMs: 0 }).load());
    assert.ok(accepted.accepted);
    const live = router;
    await waitFor(() => live.store.snapshot !== null && live.store.snapshot.stats.pods === accepted.snapshot.stats.pods, 5000, 'every pod');
    assert.deepEqual(routingState(live.store.snapshot!), routingState(accepted.snapshot));

    const res = await post(`${live.url}/v1/completions`, { model: 'deepseek-simple', prompt: 'hi', max_tokens: 1 });
    assert.equal(res.status, 200, res.text);
    assert.match(String(res.headers['x-mock-instance']), /^deepseek-r1-1-5b-/);
  });
});
