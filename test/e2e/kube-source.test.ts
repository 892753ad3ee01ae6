// `serve --kubernetes` against a real kube-apiserver and etcd (test/kube/install-envtest.sh): the router reads
// deploy/'s CRDs' objects with deploy/'s least-privilege RBAC, follows pods the test moves through their lifecycle
// (as a kubelet would, through the status subresource), and keeps serving while the API server is down.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { startRouterApp, type RouterApp } from '../../src/cli/router-app.ts';
import { startMockEngine, type MockEngineHandle } from '../../src/mock-engine/index.ts';
import { get, post, waitFor } from '../support/harness.ts';
import { KubeCluster, envtestBinaries } from '../support/kube-cluster.ts';
import { createPod, routeYaml, serverYaml, setPodStatus } from '../support/kube-fixtures.ts';

const binaries = envtestBinaries();
const MODEL = 'org/model';

/** The mock instance that answered, or the status when none did. */
async function ask(router: RouterApp, model: string): Promise<string> {
  const res = await post(`${router.url}/v1/completions`, { model, prompt: 'hi', max_tokens: 1 });
  return res.status === 200 ? String(res.headers['x-mock-instance']) : `status ${res.status}`;
}

/** Ready pods of a ModelServer in the live snapshot. */
function podsOf(router: RouterApp, server: string): string[] {
  return (router.store.snapshot?.servers.get(`default/${server}`)?.pods ?? []).map((pod) => pod.name);
}

async function answers(router: RouterApp, model: string, count: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) seen.add(await ask(router, model));
  return seen;
}

describe('serve --kubernetes against a real API server', { skip: 'skip' in binaries ? binaries.skip : false }, () => {
  let cluster: KubeCluster;
  let router: RouterApp;
  const mocks: MockEngineHandle[] = [];
  const logLines: string[] = [];

  before(async () => {
    cluster = await KubeCluster.start((binaries as { dir: string }).dir);
    cluster.kubectl(['apply', '-f', 'deploy/crds/', '-f', 'deploy/namespace.yaml']);
    // The router reads as deploy/'s ServiceAccount, with deploy/'s RBAC and nothing more.
    cluster.kubectl(['apply', '-f', 'deploy/rbac.yaml']);
    cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    for (let i = 0; i < 3; i++) mocks.push(await startMockEngine({ port: 0, host: '127.0.0.1', model: MODEL, instanceName: `engine-${i}` }));
    cluster.kubectl(['apply', '-f', '-'], serverYaml('server-a', 'a', MODEL));
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-a', 'model-a', 'server-a'));
    createPod(cluster, 'pod-0', { app: 'a' }, mocks[0].port);
    setPodStatus(cluster, 'pod-0', true);
    const stream = { write: (line: string) => void logLines.push(line) };
    router = await startRouterApp({
      configPaths: [],
      // Every watch ends after 2 s and resumes from its resourceVersion: the scenarios below run across many of them.
      kubernetes: { kubeconfig: cluster.routerKubeconfig, namespaces: [], watchTimeoutSeconds: 2 },
      port: 0,
      host: '127.0.0.1',
      maxBodyBytes: 1 << 20,
      reloadDebounceMs: 50,
      healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0,
      metricsPort: null,
      exposeMetricsOnRouterPort: true,
      debugPort: null,
      accessLog: null,
      logger: pino({ level: 'info' }, stream),
    });
  });

  after(async () => {
    await router?.shutdown(1000);
    await Promise.allSettled(mocks.map((m) => m.close()));
    await cluster?.stop();
  });

  it('serves the initial sync, with the router reading through its own least-privilege identity', async () => {
    const ready = await get(`${router.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual((ready.json() as { source: unknown }).source, { name: 'kubernetes', connected: true, invalidObjects: 0 });
    assert.deepEqual(await answers(router, 'model-a', 4), new Set(['engine-0']));
  });

  it('follows a pod becoming ready, unready, moving to another ModelServer by label, and being deleted', async () => {
    createPod(cluster, 'pod-1', { app: 'a' }, mocks[1].port);
    // Created but not yet reported Running/Ready by the kubelet: not routed to.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await answers(router, 'model-a', 4), new Set(['engine-0']));
    const routes = router.store.snapshot!.routesByModel;
    setPodStatus(cluster, 'pod-1', true);
    await waitFor(() => podsOf(router, 'server-a').includes('pod-1'), 5000, 'pod-1 ready');
    assert.equal(router.store.snapshot!.routesByModel, routes, 'a pod event rebuilds its ModelServer only, not the routes');
    assert.deepEqual(podsOf(router, 'server-a'), ['pod-0', 'pod-1']);

    setPodStatus(cluster, 'pod-0', false);
    await waitFor(async () => !(await answers(router, 'model-a', 4)).has('engine-0'), 5000, 'pod-0 unready');
    assert.deepEqual(await answers(router, 'model-a', 6), new Set(['engine-1']));

    // pod-1 relabelled to server-b's selector: it leaves server-a at once and serves model-b.
    cluster.kubectl(['apply', '-f', '-'], serverYaml('server-b', 'b', MODEL));
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-b', 'model-b', 'server-b'));
    setPodStatus(cluster, 'pod-0', true);
    cluster.kubectl(['label', 'pod', 'pod-1', 'app=b', '--overwrite']);
    await waitFor(async () => (await ask(router, 'model-b')) === 'engine-1', 5000, 'pod-1 serving model-b');
    assert.deepEqual(await answers(router, 'model-a', 6), new Set(['engine-0']));
    assert.deepEqual(podsOf(router, 'server-a'), ['pod-0']);

    cluster.kubectl(['delete', 'pod', 'pod-1', '--wait=false']);
    await waitFor(async () => (await ask(router, 'model-b')) !== 'engine-1', 5000, 'pod-1 gone');
    assert.equal(await ask(router, 'model-b'), 'status 503');
  });

  it('applies route edits and deletes, and measures kubectl apply → first routed request', async () => {
    const started = Date.now();
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-new', 'model-new', 'server-a'));
    await waitFor(async () => (await ask(router, 'model-new')) === 'engine-0', 10_000, 'the new route');
    const elapsed = Date.now() - started;
    process.stdout.write(`# kubectl apply of a route → first routed request: ${elapsed} ms (kubectl itself included)\n`);

    // The same without kubectl's own start-up: the route created through the API, then requests until one routes.
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.adminKubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    const viaApi = Date.now();
    await api.createNamespacedCustomObject({
      group: 'networking.serving.volcano.sh', version: 'v1alpha1', namespace: 'default', plural: 'modelroutes',
      body: JSON.parse(routeYaml('route-api', 'model-api', 'server-a')) as object,
    });
    await waitFor(async () => (await ask(router, 'model-api')) === 'engine-0', 10_000, 'the route created through the API');
    process.stdout.write(`# route created through the API → first routed request: ${Date.now() - viaApi} ms\n`);
    cluster.kubectl(['delete', 'modelroute', 'route-api']);

    // modelName is immutable (as in Kthena's CRD): an edit moves the route to server-b, whose pod was deleted above.
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-new', 'model-new', 'server-b'));
    await waitFor(async () => (await ask(router, 'model-new')) === 'status 503', 5000, 'the edited route');
    cluster.kubectl(['delete', 'modelroute', 'route-new']);
    await waitFor(async () => (await ask(router, 'model-new')) === 'status 404', 5000, 'the deleted route');
  });

  it('leaves out an invalid object with an error log line, and every valid one still applies', async () => {
    // The CRD schema cannot express every check (a regex must compile): the router's validation runs per object.
    const bad = {
      apiVersion: 'networking.serving.volcano.sh/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'route-bad', namespace: 'default' },
      spec: { modelName: 'model-bad', rules: [{ modelMatch: { headers: { x: { regex: '(' } } }, targetModels: [{ modelServerName: 'server-a' }] }] },
    };
    cluster.kubectl(['apply', '-f', '-'], JSON.stringify(bad));
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-good', 'model-good', 'server-a'));
    await waitFor(async () => (await ask(router, 'model-good')) === 'engine-0', 5000, 'the valid route next to the invalid one');
    assert.equal(await ask(router, 'model-bad'), 'status 404');
    assert.ok(logLines.some((line) => line.includes('ModelRoute default/route-bad') && line.includes('"level":50')), 'an error line names the object');
    const ready = await get(`${router.url}/readyz`);
    assert.equal((ready.json() as { source: { invalidObjects: number } }).source.invalidObjects, 1);
    cluster.kubectl(['delete', 'modelroute', 'route-bad']);
  });

  it('keeps serving the last valid version of an object whose edit is invalid, until it is fixed', async () => {
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-kept', 'model-kept', 'server-a'));
    await waitFor(async () => (await ask(router, 'model-kept')) === 'engine-0', 5000, 'the route');
    const invalidObjectsGauge = async (): Promise<number> =>
      Number(/^switchyard_kubernetes_invalid_objects (\d+)$/m.exec((await get(`${router.url}/metrics`)).text)?.[1] ?? NaN);
    const metricsBefore = await invalidObjectsGauge();
    // Accepted by the CRD schema, refused by the router: a lookahead RE2 cannot compile.
    const invalid = JSON.parse(routeYaml('route-kept', 'model-kept', 'server-a')) as { spec: { rules: { modelMatch?: object }[] } };
    invalid.spec.rules[0].modelMatch = { headers: { x: { regex: '(?<=a)b' } } };
    cluster.kubectl(['apply', '-f', '-'], JSON.stringify(invalid));
    await waitFor(() => logLines.some((line) => line.includes('ModelRoute default/route-kept') && line.includes('last valid version keeps serving')), 5000, 'the warning');
    assert.equal(await ask(router, 'model-kept'), 'engine-0', 'the last valid version still routes');
    const ready = await get(`${router.url}/readyz`);
    assert.equal((ready.json() as { source: { invalidObjects: number } }).source.invalidObjects, 1);
    await waitFor(async () => (await invalidObjectsGauge()) === metricsBefore + 1, 5000, 'the invalid-objects gauge to follow');

    // Across watch restarts (every watch here ends after 2 s and resumes): still served.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(await ask(router, 'model-kept'), 'engine-0');

    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-kept', 'model-kept', 'server-b'));
    await waitFor(async () => (await ask(router, 'model-kept')) === 'status 503', 5000, 'the fixed version (server-b has no pod)');
    await waitFor(async () => (await invalidObjectsGauge()) === metricsBefore, 5000, 'the invalid-objects gauge back');
    cluster.kubectl(['delete', 'modelroute', 'route-kept']);
  });

  it('two router replicas serve the same objects alike', async () => {
    const second = await startRouterApp({
      configPaths: [],
      kubernetes: { kubeconfig: cluster.routerKubeconfig, namespaces: ['default'] },
      port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0, metricsPort: null, debugPort: null, accessLog: null, logger: pino({ level: 'silent' }),
    });
    try {
      cluster.kubectl(['apply', '-f', '-'], routeYaml('route-both', 'model-both', 'server-a'));
      for (const replica of [router, second]) {
        await waitFor(async () => (await ask(replica, 'model-both')) === 'engine-0', 5000, 'the route on each replica');
        assert.deepEqual(podsOf(replica, 'server-a'), ['pod-0']);
      }
      assert.deepEqual([...second.store.snapshot!.routesByModel.keys()].sort(), [...router.store.snapshot!.routesByModel.keys()].sort());
    } finally {
      await second.shutdown(1000);
    }
  });

  it('keeps serving the last state while the API server is down, then catches up', async () => {
    // Requests flow throughout: none to the ready pod fails while the API server goes away and comes back.
    let flowing = true;
    const outcomes: string[] = [];
    const loop = (async () => {
      while (flowing) {
        outcomes.push(await ask(router, 'model-a'));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await cluster.stopApiServer();
    await waitFor(async () => {
      const ready = await get(`${router.url}/readyz`);
      return ready.status === 200 && (ready.json() as { source: { connected: boolean } }).source.connected === false;
    }, 15_000, '/readyz reporting the API server unreachable');
    assert.deepEqual(await answers(router, 'model-a', 4), new Set(['engine-0']), 'requests keep flowing on the last state');

    // The restarted API server's watch cache starts at the current resourceVersion: the watches' resume gets
    // 410 Gone ("too old resource version") and each collection relists.
    await cluster.startApiServer();
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-after', 'model-after', 'server-a'));
    createPod(cluster, 'pod-2', { app: 'a' }, mocks[2].port);
    setPodStatus(cluster, 'pod-2', true);
    await waitFor(async () => (await ask(router, 'model-after')) === 'engine-0' || (await ask(router, 'model-after')) === 'engine-2', 20_000, 'changes made after the restart');
    await waitFor(() => podsOf(router, 'server-a').includes('pod-2'), 10_000, 'the new pod');
    // Every watch reconnects once its backoff (at most 10 s) runs out.
    await waitFor(async () => ((await get(`${router.url}/readyz`)).json() as { source: { connected: boolean } }).source.connected, 15_000, '/readyz connected again');
    flowing = false;
    await loop;
    assert.ok(outcomes.length > 20, `${outcomes.length} requests`);
    assert.deepEqual(outcomes.filter((o) => o.startsWith('status')), [], 'no request failed');
  });

  it('lists again when etcd is restored from a backup and resourceVersions go back', async () => {
    const connected = async (): Promise<boolean> => ((await get(`${router.url}/readyz`)).json() as { source: { connected: boolean } }).source.connected;
    const backup = await cluster.backupEtcd();
    await waitFor(connected, 20_000, 'the router connected after the backup');
    // Writes after the backup take etcd's revision well past anything the restored one reaches in this test.
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.adminKubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 300; i++) await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `filler-${i}` } } });
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-lost', 'model-lost', 'server-a'));
    await waitFor(async () => (await ask(router, 'model-lost')).startsWith('engine'), 10_000, 'the route created after the backup');

    logLines.length = 0;
    await cluster.restoreEtcd(backup);
    // A watch resumed from the router's last resourceVersion, which the restored etcd has not reached, would wait in
    // silence: this route would not be served until etcd's revision caught up.
    cluster.kubectl(['apply', '-f', '-'], routeYaml('route-restored', 'model-restored', 'server-a'));
    await waitFor(async () => (await ask(router, 'model-restored')).startsWith('engine'), 20_000, 'a route created after the restore');
    assert.equal(await ask(router, 'model-lost'), 'status 404', 'the route the restore took away is gone');
    assert.ok(logLines.some((l) => l.includes('etcd restored or wiped')), 'the relist is logged');
    await waitFor(connected, 15_000, '/readyz connected again');
  });
});
