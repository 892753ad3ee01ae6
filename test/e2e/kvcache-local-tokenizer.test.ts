// kvcache-aware with a local tokenizer: the mock engines tokenize with the repository's small tokenizer.json and chat
// template (test/fixtures/tokenizer), the router with the same files in-process (inline for short prompts, on a
// worker thread for long ones). Engine tokenization is pointed at a closed port, so every match proves that the
// router's chained block hashes of its own token ids equal those of the ids the engines' KV events carry, for
// completions and for chat.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { LocalTokenizer } from '../../src/tokenization/local-tokenizer.ts';
import { createEnv, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { BASE, writeRouterConfig } from '../support/scheduling.ts';

const TOKENIZER = fileURLToPath(new URL('../fixtures/tokenizer/tokenizer.json', import.meta.url));
const sentence = (topic: string, count: number): string =>
  Array.from({ length: count }, (_, i) => `The ${topic} engine ${i} keeps blocks of tokens in its cache.`).join(' ');

interface Explained {
  scheduling: { candidates: { pod: string; scores: Record<string, { detail?: Record<string, number> }> }[] };
}

describe('kvcache-aware with a local tokenizer.json and chat template', () => {
  let env: TestEnv;
  let mocks: MockEngineHandle[];
  let router: RouterApp;

  before(async () => {
    env = await createEnv();
    mocks = [];
    for (let i = 0; i < 3; i++) mocks.push(await startMock(env, { model: BASE, instanceName: `kv-${i}`, maxTokens: 2, tokenizer: TOKENIZER, kvEventsPort: 0, kvReplayPort: 0 }));
    await writeYaml(env, 'config.yaml', [
      modelServer('base', { app: 'base', model: BASE }),
      simpleRoute('base-route', BASE, 'base'),
      ...mocks.map((m, i) =>
        podStub(`pod-${i}`, 'base', m.port).replace('    switchyard.dev/port:', `    switchyard.dev/kv-events-port: "${m.kvEventsPort}"\n    switchyard.dev/kv-replay-port: "${m.kvReplayPort}"\n    switchyard.dev/port:`),
      ),
    ]);
    const file = await writeRouterConfig(
      env,
      `scheduler:
  pluginConfig:
  - name: kvcache-aware
    args:
      blockSizeToHash: 16
      maxBlocksToMatch: 128
      vllmTokenizerPort: 1
      inlineTokenizeMaxChars: 2000
      tokenizers:
      - {model: ${BASE}, path: ${TOKENIZER}}
  plugins:
    Filter: {enabled: [least-request]}
    Score:
      enabled:
      - {name: least-request, weight: 1}
      - {name: kvcache-aware, weight: 2}
`,
    );
    router = await startRouter(env, { routerConfigFile: file, debugPort: 0 });
    await waitFor(() => [...router.kvBlocks.entries()].filter(([, , trusted]) => trusted).length === 3, 5000, 'every pod trusted');
  });
  after(() => env.cleanup());

  it('tokenizes exactly like the engine: completions and chat', async () => {
    const local = await LocalTokenizer.load({ path: TOKENIZER });
    const prompt = sentence('alpha', 5);
    const engine = (await post(`${mocks[0].url}/tokenize`, { prompt })).json() as { tokens: number[] };
    assert.deepEqual(local.encodeText(prompt), engine.tokens);
    const messages = [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: prompt }];
    const chat = (await post(`${mocks[0].url}/tokenize`, { messages, add_generation_prompt: true })).json() as { tokens: number[] };
    assert.deepEqual(local.encodeChat(messages, 'vllm'), chat.tokens);
  });

  const holderOf = async (path: string, body: Record<string, unknown>, pod: string): Promise<Record<string, number> | undefined> => {
    const res = await post(`${router.debugUrl}/debug/explain`, { path, body });
    return (res.json() as Explained).scheduling.candidates.find((c) => c.pod === pod)?.scores['kvcache-aware']?.detail;
  };

  for (const [kind, size] of [['short', 4], ['long (worker thread)', 60]] as const) {
    it(`routes ${kind} completions to the pod holding their blocks`, async () => {
      for (let n = 0; n < 4; n++) {
        const prompt = sentence(`${kind.slice(0, 4)}${n}`, size);
        const first = await post(`${router.url}/v1/completions`, { model: BASE, prompt, max_tokens: 2 });
        assert.equal(first.status, 200, first.text);
        const holder = String(first.headers['x-mock-instance']);
        const pod = `default/pod-${holder.slice(3)}`;
        await waitFor(async () => {
          const detail = await holderOf('/v1/completions', { model: BASE, prompt }, pod);
          return detail !== undefined && detail.promptBlocks > 0 && detail.matchedBlocks === detail.promptBlocks;
        }, 5000, 'every block of the prompt matched on its holder');
        const next = await post(`${router.url}/v1/completions`, { model: BASE, prompt: `${prompt} And one more sentence.`, max_tokens: 2 });
        assert.equal(next.headers['x-mock-instance'], holder);
      }
    });
  }

  it('routes chat turns to the pod holding the conversation', async () => {
    const history = [
      { role: 'system', content: sentence('system', 6) },
      { role: 'user', content: 'Explain the reasoning step by step.' },
    ];
    const first = await post(`${router.url}/v1/chat/completions`, { model: BASE, messages: history, max_tokens: 2 });
    assert.equal(first.status, 200, first.text);
    const holder = String(first.headers['x-mock-instance']);
    await waitFor(async () => ((await holderOf('/v1/chat/completions', { model: BASE, messages: history }, `default/pod-${holder.slice(3)}`))?.matchedBlocks ?? 0) >= 4, 5000, 'the chat prefix indexed');
    for (let turn = 0; turn < 3; turn++) {
      const messages = [...history, { role: 'assistant', content: 'The engine answers.' }, { role: 'user', content: `Question ${turn} about the cache?` }];
      const res = await post(`${router.url}/v1/chat/completions`, { model: BASE, messages, max_tokens: 2 });
      assert.equal(res.headers['x-mock-instance'], holder, `turn ${turn}`);
    }
  });
});
