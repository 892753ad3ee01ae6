// kvcache-aware on a PD-disaggregated ModelServer: the prompt is tokenized once, and the decode pod (then the prefill
// pod of its group) is chosen by the KV blocks their engines report.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import { createEnv, post, simpleRoute, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { pdPods, pdServer, startPdMocks, type PdPairMocks } from '../support/pd-fixtures.ts';
import { writeRouterConfig } from '../support/scheduling.ts';

const MODEL = 'org/pd-model';
const CONFIG = `scheduler:
  plugins:
    Filter: {enabled: [least-request]}
    Score:
      enabled:
      - {name: kvcache-aware, weight: 2}
      - {name: least-request, weight: 1}
`;

describe('kvcache-aware on a PD-disaggregated ModelServer', () => {
  let env: TestEnv;
  let pairs: PdPairMocks[];
  let router: RouterApp;

  before(async () => {
    env = await createEnv();
    pairs = await startPdMocks(env, 'kv', 'http', ['g1', 'g2', 'g3'], { model: MODEL, maxTokens: 2, kvEventsPort: 0, kvReplayPort: 0 });
    const mocks = pairs.flatMap((p) => [p.prefill, p.decode]);
    const withEvents = pdPods('pd', pairs).map((doc) => {
      const port = /switchyard\.dev\/port: "(\d+)"/.exec(doc)![1];
      const mock = mocks.find((m) => String(m.port) === port)!;
      return doc.replace('    switchyard.dev/port:', `    switchyard.dev/kv-events-port: "${mock.kvEventsPort}"\n    switchyard.dev/kv-replay-port: "${mock.kvReplayPort}"\n    switchyard.dev/port:`);
    });
    await writeYaml(env, 'config.yaml', [pdServer('pd', 'http', { model: MODEL }), simpleRoute('pd-route', MODEL, 'pd'), ...withEvents]);
    router = await startRouter(env, { routerConfigFile: await writeRouterConfig(env, CONFIG) });
    await waitFor(() => [...router.kvBlocks.entries()].filter(([, , trusted]) => trusted).length === 6, 5000, 'every pod trusted');
  });
  after(() => env.cleanup());

  it('sends follow-ups to the pair whose engines hold the prefix', async () => {
    for (let n = 0; n < 4; n++) {
      const prompt = Array.from({ length: 96 }, (_, i) => `pd${n}w${i}`).join(' ');
      const sizeOf = (url: string): number => [...router.kvBlocks.entries()].find(([origin]) => origin === url)?.[1].size ?? 0;
      const before = new Map(pairs.map((p) => [p.decode.url, sizeOf(p.decode.url)]));
      const first = await post(`${router.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 2 });
      assert.equal(first.status, 200, first.text);
      const decode = first.headers['x-mock-pd-decode'];
      assert.ok(typeof decode === 'string' && decode.length > 0);
      const holder = pairs.find((p) => p.decode.instanceName === decode)!;
      await waitFor(() => sizeOf(holder.decode.url) >= before.get(holder.decode.url)! + 6, 5000, 'the decode engine to report the prompt');
      for (let turn = 0; turn < 3; turn++) {
        const next = await post(`${router.url}/v1/completions`, { model: MODEL, prompt: `${prompt} more${turn}`, max_tokens: 2 });
        assert.equal(next.status, 200, next.text);
        assert.equal(next.headers['x-mock-pd-decode'], decode, `prompt ${n}, follow-up ${turn}`);
      }
    }
  });
});
