// The debug server: Kthena's config dumps, bound to 127.0.0.1 only, and routing explanations that match what real
// requests then do (explain first, then send the real request and compare route, rule, target and pod).
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { Explanation } from '../../src/observability/explain/explanation.ts';
import { tryConnect } from '../support/process.ts';
import { createEnv, get, mockStats, modelServer, podStub, post, startMock, startRouter, waitFor, writeYaml, type RawResponse, type TestEnv } from '../support/harness.ts';

const BASE = 'org/base';

function route(name: string, spec: string[]): string {
  return ['apiVersion: networking.serving.volcano.sh/v1alpha1', 'kind: ModelRoute', 'metadata:', `  name: ${name}`, '  namespace: default', 'spec:', ...spec].join('\n');
}

/** A pod stub with extra labels (PD roles). */
function labelledPod(name: string, labels: Record<string, string>, port: number): string {
  return ['apiVersion: v1', 'kind: Pod', 'metadata:', `  name: ${name}`, '  namespace: default', '  labels:',
    ...Object.entries(labels).map(([k, v]) => `    ${k}: "${v}"`), '  annotations:', `    switchyard.dev/port: "${port}"`, 'status:', '  podIP: 127.0.0.1'].join('\n');
}

const PD_SERVER = [
  'apiVersion: networking.serving.volcano.sh/v1alpha1', 'kind: ModelServer', 'metadata:', '  name: pd', '  namespace: default', 'spec:',
  '  workloadSelector:', '    matchLabels:', '      app: pd', '    pdGroup:', '      groupKey: group',
  '      prefillLabels:', '        role: prefill', '      decodeLabels:', '        role: decode',
  '  workloadPort:', '    port: 8000', '  inferenceEngine: vLLM',
].join('\n');

describe('debug server', () => {
  let env: TestEnv;
  let router: RouterApp;
  let debug: string;
  const mocks: Record<string, MockEngineHandle> = {};

  before(async () => {
    env = await createEnv();
    for (const name of ['a', 'b', 'c1', 'c2']) mocks[name] = await startMock(env, { model: BASE, instanceName: name });
    assert.equal((await post(`${mocks.c1.url}/v1/load_lora_adapter`, { lora_name: 'lora-x', lora_path: '/x' })).status, 200);
    await writeYaml(env, 'config.yaml', [
      modelServer('ms-a', { model: BASE }), podStub('pod-a', 'ms-a', mocks.a.port),
      modelServer('ms-b', { model: BASE }), podStub('pod-b', 'ms-b', mocks.b.port),
      modelServer('ms-c', { model: BASE }), podStub('pod-c1', 'ms-c', mocks.c1.port), podStub('pod-c2', 'ms-c', mocks.c2.port),
      route('tiers', ['  modelName: tiered', '  rules:',
        '  - name: premium', '    modelMatch:', '      headers:', '        x-tier:', '          exact: premium', '    targetModels:', '    - modelServerName: ms-a',
        '  - name: everyone', '    targetModels:', '    - modelServerName: ms-b']),
      route('canary', ['  modelName: canary', '  rules:', '  - name: split', '    targetModels:',
        '    - modelServerName: ms-a', '      weight: 70', '    - modelServerName: ms-b', '      weight: 30']),
      route('lora', ['  loraAdapters: [lora-x]', '  rules:', '  - name: adapters', '    targetModels:', '    - modelServerName: ms-c']),
      PD_SERVER,
      labelledPod('pd-prefill-0', { app: 'pd', group: 'g1', role: 'prefill' }, mocks.a.port),
      labelledPod('pd-decode-0', { app: 'pd', group: 'g1', role: 'decode' }, mocks.b.port),
    ]);
    router = await startRouter(env, { debugPort: 0, allowExplainHeader: true, metricsScrapeIntervalMs: 100 });
    debug = router.debugUrl!;
    await waitFor(() => router.engines.models(mocks.c1.url, Date.now())?.has('lora-x') === true && router.engines.metrics(mocks.c2.url, Date.now()) !== null, 5000, 'pods scraped');
  });
  after(() => env.cleanup());

  const explain = async (body: object, headers: Record<string, string> = {}, path = '/v1/completions'): Promise<Explanation> => {
    const res = await post(`${debug}/debug/explain`, { path, headers, body });
    assert.equal(res.status, 200, res.text);
    return res.json() as Explanation;
  };
  /** Sends the real request with x-switchyard-explain and returns the response and the instance that served it. */
  const send = async (body: object, headers: Record<string, string> = {}): Promise<{ res: RawResponse; served: string; summary: Record<string, unknown> }> => {
    const res = await post(`${router.url}/v1/completions`, body, { ...headers, 'x-switchyard-explain': '1' });
    assert.equal(res.status, 200, res.text);
    const header = res.headers['x-switchyard-explain'];
    assert.equal(typeof header, 'string');
    assert.ok((header as string).length < 4096);
    return { res, served: String(res.headers['x-mock-instance']), summary: JSON.parse(header as string) as Record<string, unknown> };
  };

  it('is bound to 127.0.0.1 only: the machine\'s other addresses refuse connections', async (t) => {
    const port = Number(new URL(debug).port);
    assert.equal(new URL(debug).hostname, '127.0.0.1');
    assert.equal(await tryConnect(port, '127.0.0.1'), 'accepted');
    const external = Object.values(networkInterfaces()).flat().filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
    if (external.length === 0) return t.skip('this machine has no non-loopback IPv4 address');
    for (const address of external) assert.equal(await tryConnect(port, address!.address), 'refused', address!.address);
  });

  it('dumps ModelRoutes, ModelServers (with pods by PD role) and pods (with scraped metrics)', async () => {
    const routes = (await get(`${debug}/debug/config_dump/modelroutes`)).json() as { modelroutes: { name: string; namespace: string; spec: { modelName?: string } }[] };
    assert.deepEqual(routes.modelroutes.map((r) => r.name), ['canary', 'lora', 'tiers']);
    const one = await get(`${debug}/debug/config_dump/namespaces/default/modelroutes/tiers`);
    assert.equal((one.json() as { spec: { modelName: string } }).spec.modelName, 'tiered');
    const missing = await get(`${debug}/debug/config_dump/namespaces/default/modelroutes/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json(), { error: 'ModelRoute not found' });

    const servers = (await get(`${debug}/debug/config_dump/modelservers`)).json() as { modelservers: { name: string; associatedPods: string[] }[] };
    assert.deepEqual(servers.modelservers.find((s) => s.name === 'ms-c')?.associatedPods, ['default/pod-c1', 'default/pod-c2']);
    const pd = (await get(`${debug}/debug/config_dump/namespaces/default/modelservers/pd`)).json() as Record<string, unknown>;
    assert.deepEqual(pd.prefillPods, ['default/pd-prefill-0']);
    assert.deepEqual(pd.decodePods, ['default/pd-decode-0']);

    const pods = (await get(`${debug}/debug/config_dump/pods`)).json() as { pods: { name: string; engine: string; models: string[]; modelServers: string[]; metrics: Record<string, number | null> | null }[] };
    const c1 = pods.pods.find((p) => p.name === 'pod-c1')!;
    assert.equal(c1.engine, 'vLLM');
    assert.deepEqual(c1.modelServers, ['default/ms-c']);
    assert.ok(c1.models.includes('lora-x'));
    assert.equal(c1.metrics?.requestWaitingNum, 0);
    assert.equal(typeof c1.metrics?.gpuCacheUsage, 'number');
    const detail = (await get(`${debug}/debug/config_dump/namespaces/default/pods/pod-c1`)).json() as { podInfo: { podIP: string } };
    assert.equal(detail.podInfo.podIP, '127.0.0.1');
    assert.equal((await get(`${debug}/debug/config_dump/namespaces/default/pods/ghost`)).status, 404);
  });

  it('explains a header rule: which condition failed, then matches what real requests do', async () => {
    const plain = await explain({ model: 'tiered', prompt: 'hi' });
    assert.equal(plain.lookup, 'modelName');
    assert.deepEqual(plain.rules, [
      { route: 'default/tiers', rule: 'premium', ruleIndex: 0, matched: false, failed: { condition: 'headers.x-tier', expected: { exact: 'premium' }, actual: null } },
      { route: 'default/tiers', rule: 'everyone', ruleIndex: 1, matched: true },
    ]);
    assert.deepEqual([plain.route, plain.rule, plain.target?.key, plain.pod], ['default/tiers', 'everyone', 'default/ms-b', 'default/pod-b']);
    const wrongTier = await explain({ model: 'tiered', prompt: 'hi' }, { 'x-tier': 'gold' });
    assert.equal(wrongTier.rules[0].failed?.actual, 'gold');

    const real = await send({ model: 'tiered', prompt: 'hi' });
    assert.equal(real.served, 'b');
    assert.deepEqual([real.summary.route, real.summary.rule, real.summary.target, real.summary.pod], [plain.route, plain.rule, plain.target?.key, plain.pod]);
    assert.deepEqual(real.summary.skipped, ['default/tiers#premium: headers.x-tier']);

    const premium = await explain({ model: 'tiered', prompt: 'hi' }, { 'x-tier': 'premium' });
    assert.deepEqual([premium.rule, premium.target?.key, premium.pod], ['premium', 'default/ms-a', 'default/pod-a']);
    const realPremium = await send({ model: 'tiered', prompt: 'hi' }, { 'x-tier': 'premium' });
    assert.equal(realPremium.served, 'a');
    assert.deepEqual([realPremium.summary.rule, realPremium.summary.target, realPremium.summary.pod], [premium.rule, premium.target?.key, premium.pod]);
  });

  it('explains a weighted rule without moving the round-robin: each explanation predicts the next real request', async () => {
    const targets: string[] = [];
    for (let i = 0; i < 10; i++) {
      const first = await explain({ model: 'canary', prompt: `n${i}` });
      const again = await explain({ model: 'canary', prompt: `n${i}` });
      assert.deepEqual(again.weights, first.weights, 'explaining twice shows the same state');
      const chosen = first.weights!.find((w) => w.chosen)!;
      assert.equal(chosen.target, first.target?.key);
      assert.deepEqual(first.weights!.map((w) => [w.target, w.weight]), [['default/ms-a', 70], ['default/ms-b', 30]]);

      const real = await send({ model: 'canary', prompt: `n${i}` });
      assert.equal(real.summary.target, first.target?.key);
      assert.equal(real.served, first.target?.key === 'default/ms-a' ? 'a' : 'b');
      // The real request moved the sequence exactly as the explanation said it would.
      const next = await explain({ model: 'canary', prompt: `n${i}` });
      assert.deepEqual(next.weights!.map((w) => w.current), first.weights!.map((w) => w.next));
      targets.push(first.target!.key);
    }
    assert.equal(targets.filter((t) => t === 'default/ms-a').length, 7);
  });

  it('explains a filtered pod: the filter, its verdict per pod, the scores and the order; the real request agrees', async () => {
    const e = await explain({ model: 'lora-x', prompt: 'adapter please' });
    assert.equal(e.lookup, 'loraAdapters');
    assert.equal(e.isLora, true);
    const [c1, c2] = e.scheduling!.candidates;
    assert.equal(c1.pod, 'default/pod-c1');
    assert.equal(c2.pod, 'default/pod-c2');
    assert.equal(c2.filters['lora-affinity'], 'removed');
    assert.equal(c2.removedBy, 'lora-affinity');
    assert.equal(c2.rank, null);
    assert.deepEqual(c1.filters, { 'lora-affinity': 'kept', 'least-request': 'kept' });
    assert.deepEqual(Object.keys(c1.scores).sort(), ['kvcache-aware', 'least-request', 'lora-residency', 'prefix-cache']);
    assert.equal(c1.scores['kvcache-aware'].score, null, 'no KV events: no opinion');
    assert.equal(c1.scores['least-request'].score, 100);
    assert.equal(c1.rank, 0);
    assert.equal(c1.total, Object.values(c1.scores).reduce((sum, s) => sum + s.weighted, 0));
    assert.deepEqual(e.scheduling!.order, ['default/pod-c1']);
    assert.equal(e.pod, 'default/pod-c1');

    const before = (await mockStats(mocks.c2)).received;
    const real = await send({ model: 'lora-x', prompt: 'adapter please' });
    assert.equal(real.served, 'c1');
    assert.deepEqual(real.summary.removed, { 'default/pod-c2': 'lora-affinity' });
    assert.equal(real.summary.pod, e.pod);
    assert.equal((await mockStats(mocks.c2)).received, before);
  });

  it('explains refusals, and refuses malformed explain requests', async () => {
    const unknown = await explain({ model: 'nobody', prompt: 'x' });
    assert.equal(unknown.decision, 'refused');
    assert.equal(unknown.error?.code, 'model_not_found');
    assert.equal(unknown.lookup, null);
    const noModel = await explain({ prompt: 'x' });
    assert.equal(noModel.error?.code, 'model_required');
    assert.equal((await post(`${debug}/debug/explain`, { path: '/elsewhere', body: {} })).status, 400);
    // A /v1 path outside the path policy: the router answers 404 not_found, and so does the explanation.
    for (const path of ['/v1/load_lora_adapter', '/v1/nothing', '/v1/completions/']) {
      const real = await post(`${router.url}${path}`, { model: 'tiered', prompt: 'x' });
      assert.equal(real.status, 404, `${path}: ${real.text}`);
      const outside = await explain({ model: 'tiered', prompt: 'x' }, {}, path);
      assert.equal(outside.decision, 'refused', path);
      assert.deepEqual(outside.error, { status: 404, code: 'not_found', message: `no route for POST ${path}` });
      assert.equal(outside.route, null);
    }
    assert.equal((await post(`${debug}/debug/explain`, 'not json')).status, 400);
    assert.equal((await get(`${debug}/debug/explain`)).status, 405);
    // A refused real request carries its explanation too.
    const res = await post(`${router.url}/v1/completions`, { model: 'nobody', prompt: 'x' }, { 'x-switchyard-explain': 'text' });
    assert.equal(res.status, 404);
    assert.equal(res.headers['x-switchyard-explain'], 'decision=refused error=model_not_found route=- rule=- target=- pod=-');
  });
});
