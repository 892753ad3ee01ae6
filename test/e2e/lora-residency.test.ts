// lora-residency end to end: simulated vLLM engines with two LoRA slots report the adapters of their running requests
// (vllm:lora_requests_info); the router scrapes them and sends a LoRA request to the pod already running its adapter,
// although least-request prefers the idle one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Explanation } from '../../src/observability/explain/explanation.ts';
import type { RouterApp } from '../../src/cli/router-app.ts';
import { createEnv, modelServer, podStub, post, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { openStream } from '../support/process.ts';
import { writeRouterConfig } from '../support/scheduling.ts';

const BASE = 'org/lora-base';
const words = (n: number): string => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

describe('lora-residency with simulated vLLM engines', () => {
  let env: TestEnv;
  let router: RouterApp;

  before(async () => {
    env = await createEnv();
    const engine = (name: string) =>
      startMock(env, { model: BASE, instanceName: name, mode: 'echo', loraAdapters: ['lora-A', 'lora-B'], maxLoras: 1, loraLoadMs: 5, itlMs: 40 });
    const [a, b] = [await engine('engine-a'), await engine('engine-b')];
    await writeYaml(env, 'config.yaml', [
      modelServer('srv', { model: BASE }), podStub('pod-a', 'srv', a.port), podStub('pod-b', 'srv', b.port),
      ['apiVersion: networking.serving.volcano.sh/v1alpha1', 'kind: ModelRoute', 'metadata:', '  name: adapters', '  namespace: default', 'spec:',
        '  loraAdapters: [lora-A, lora-B]', '  rules:', '  - name: all', '    targetModels:', '    - modelServerName: srv'].join('\n'),
    ]);
    const config = await writeRouterConfig(env, [
      'scheduler:', '  plugins:', '    Filter:', '      enabled: [lora-affinity, least-request]', '    Score:', '      enabled:',
      '      - {name: lora-residency, weight: 3}', '      - {name: least-request, weight: 1}',
    ].join('\n'));
    router = await startRouter(env, { routerConfigFile: config, debugPort: 0, metricsScrapeIntervalMs: 100 });
  });
  after(() => env.cleanup());

  const explain = async (model: string): Promise<Explanation> => {
    const res = await post(`${router.debugUrl!}/debug/explain`, { path: '/v1/completions', body: { model, prompt: 'x' } });
    assert.equal(res.status, 200, res.text);
    return res.json() as Explanation;
  };
  const residency = async (model: string): Promise<Record<string, number | null>> =>
    Object.fromEntries((await explain(model)).scheduling!.candidates.map((c) => [c.pod, c.scores['lora-residency'].score]));

  it('sends a LoRA request to the pod running its adapter, not to the idle one', async () => {
    assert.deepEqual(await residency('lora-A'), { 'default/pod-a': 50, 'default/pod-b': 50 }, 'no pod holds lora-A yet; both have their slot free');
    const stream = await openStream(`${router.url}/v1/completions`, { model: 'lora-A', prompt: words(60), max_tokens: 60 });
    await stream.firstEvent;
    // The engine serving the stream reports lora-A among its running adapters at the next scrape.
    let holder = '';
    await waitFor(async () => {
      const scores = await residency('lora-A');
      holder = Object.keys(scores).find((pod) => scores[pod] === 100) ?? '';
      return holder !== '';
    }, 5000, 'a pod scraped running lora-A');
    const holderInstance = holder === 'default/pod-a' ? 'engine-a' : 'engine-b';

    // least-request alone would pick the idle pod; lora-residency outweighs it.
    const explained = await explain('lora-A');
    const idle = explained.scheduling!.candidates.find((c) => c.pod !== holder)!;
    assert.equal(idle.scores['least-request'].score, 100);
    assert.equal(explained.scheduling!.order[0], holder);
    const res = await post(`${router.url}/v1/completions`, { model: 'lora-A', prompt: 'short', max_tokens: 2 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-mock-instance'], holderInstance, JSON.stringify(explained.scheduling));

    // Another adapter: the holder's one slot (max_lora 1, scraped) is taken by lora-A, in use; the idle pod's is free.
    const forB = await residency('lora-B');
    assert.deepEqual([forB[holder], forB[idle.pod]], [0, 50]);
    const other = await post(`${router.url}/v1/completions`, { model: 'lora-B', prompt: 'short', max_tokens: 2 });
    assert.equal(other.status, 200, other.text);
    assert.notEqual(other.headers['x-mock-instance'], holderInstance);
    const result = await stream.done;
    assert.equal(result.error, null);
  });
});
