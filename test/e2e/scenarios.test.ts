// The seed's routing scenarios 1-5, on its verbatim YAML, through real sockets with the official openai client.
import assert from 'node:assert/strict';
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type OpenAI from 'openai';
import { DEMO_CONFIG_DIR } from '../../src/cli/demo.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { client, createEnv, mockStats, podStub, startMock, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { pdPods, startPdMocks, type PdPairMocks } from '../support/pd-fixtures.ts';

const M15 = 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B';
const M7 = 'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B';

describe('seed routing scenarios', () => {
  let env: TestEnv;
  let openai: OpenAI;
  let base: MockEngineHandle[];
  let big: MockEngineHandle;

  before(async () => {
    env = await createEnv();
    for (const file of await readdir(DEMO_CONFIG_DIR)) {
      if (file !== 'pods.yaml') await copyFile(join(DEMO_CONFIG_DIR, file), join(env.dir, file)); // scenario 5's PD server has no pods here
    }
    base = [
      await startMock(env, { model: M15, loraAdapters: ['lora-A', 'lora-B'], instanceName: 'p15-0' }),
      await startMock(env, { model: M15, loraAdapters: ['lora-A', 'lora-B'], instanceName: 'p15-1' }),
    ];
    big = await startMock(env, { model: M7, engine: 'sglang', instanceName: 'p7-0' });
    const v1 = await startMock(env, { model: `${M15}-v1`, instanceName: 'v1-0' });
    const v2 = await startMock(env, { model: `${M15}-v2`, instanceName: 'v2-0' });
    await writeYaml(env, 'pods.yaml', [
      podStub('p15-0', 'deepseek-r1-1-5b', base[0].port),
      podStub('p15-1', 'deepseek-r1-1-5b', base[1].port),
      podStub('p7-0', 'deepseek-r1-7b', big.port),
      podStub('v1-0', 'deepseek-r1-1-5b-v1', v1.port),
      podStub('v2-0', 'deepseek-r1-1-5b-v2', v2.port),
    ]);
    openai = client(await startRouter(env));
  });
  after(() => env.cleanup());

  describe('1. simple model-based routing', () => {
    it('routes deepseek-simple to the 1.5B ModelServer and rewrites the model to spec.model', async () => {
      const res = await openai.completions.create({ model: 'deepseek-simple', prompt: 'San Francisco is a', temperature: 0 });
      assert.equal(res.model, M15);
      assert.equal(res.choices[0].text, `This is simulated message from ${M15}!`);
      assert.ok(res.usage && res.usage.total_tokens === res.usage.prompt_tokens + res.usage.completion_tokens);
    });

    it('streams a completion chunk by chunk and hides the usage chunk the client did not ask for', async () => {
      const stream = await openai.completions.create({ model: 'deepseek-simple', prompt: 'San Francisco is a', stream: true });
      let text = '';
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        assert.equal(chunk.usage ?? null, null, 'no usage chunk was requested');
        assert.ok(chunk.choices.length > 0, 'no usage-only chunk reaches the client');
        text += chunk.choices[0].text;
      }
      assert.equal(text, `This is simulated message from ${M15}!`);
      assert.ok(chunks > 1, 'the answer arrives as several chunks');
    });

    it('passes the usage chunk through when the client asks for it', async () => {
      const stream = await openai.chat.completions.create({
        model: 'deepseek-simple',
        messages: [{ role: 'user', content: 'Hello' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      assert.equal(text, `This is simulated message from ${M15}!`);
      assert.ok(usage !== null && usage.completion_tokens > 0);
    });

    it('answers non-streaming chat', async () => {
      const res = await openai.chat.completions.create({ model: 'deepseek-simple', messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(res.choices[0].message.content, `This is simulated message from ${M15}!`);
    });

    it('spreads requests over both pods of the ModelServer', async () => {
      const before0 = (await mockStats(base[0])).received;
      const before1 = (await mockStats(base[1])).received;
      await Promise.all(Array.from({ length: 20 }, () => openai.completions.create({ model: 'deepseek-simple', prompt: 'x' })));
      const d0 = (await mockStats(base[0])).received - before0;
      const d1 = (await mockStats(base[1])).received - before1;
      assert.equal(d0 + d1, 20);
      assert.ok(d0 > 0 && d1 > 0, `both pods serve (got ${d0}/${d1})`);
    });
  });

  describe('2. LoRA-aware routing', () => {
    it('routes lora-A to the 1.5B ModelServer without rewriting the adapter name', async () => {
      const res = await openai.completions.create({ model: 'lora-A', prompt: 'San Francisco is a', temperature: 0 });
      assert.equal(res.model, 'lora-A');
      assert.equal(res.choices[0].text, 'This is simulated message from lora-A!');
      const seen = await Promise.all(base.map(mockStats));
      const last = seen.map((s) => s.lastRequest?.body as { model?: string } | undefined);
      assert.ok(last.some((b) => b?.model === 'lora-A'), 'the pod received the adapter name, not spec.model');
    });

    it('streams for lora-B', async () => {
      const stream = await openai.chat.completions.create({ model: 'lora-B', messages: [{ role: 'user', content: 'Hi' }], stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      assert.equal(text, 'This is simulated message from lora-B!');
    });
  });

  describe('3. weight-based traffic distribution', () => {
    it('splits 100 requests exactly 70/30, 7/3 in every 10', async () => {
      const models: string[] = [];
      for (let i = 0; i < 100; i++) {
        const res = await openai.completions.create({ model: 'deepseek-subset', prompt: 'San Francisco is a' });
        models.push(res.model);
      }
      assert.equal(models.filter((m) => m === `${M15}-v1`).length, 70);
      assert.equal(models.filter((m) => m === `${M15}-v2`).length, 30);
      for (let w = 0; w < 100; w += 10) {
        assert.equal(models.slice(w, w + 10).filter((m) => m === `${M15}-v1`).length, 7, `window ${w}`);
      }
    });

    it('streams on the weighted route', async () => {
      const stream = await openai.completions.create({ model: 'deepseek-subset', prompt: 'x', stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
      assert.match(text, /^This is simulated message from deepseek-ai\/DeepSeek-R1-Distill-Qwen-1\.5B-v[12]!$/);
    });
  });

  describe('4. header-based routing', () => {
    it('sends premium users to the 7B ModelServer', async () => {
      const premium = client(env.router!, { 'user-type': 'premium' });
      const res = await premium.completions.create({ model: 'deepseek-multi-models', prompt: 'San Francisco is a' });
      assert.equal(res.model, M7);
      const stream = await premium.chat.completions.create({ model: 'deepseek-multi-models', messages: [{ role: 'user', content: 'Hi' }], stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      assert.equal(text, `This is simulated message from ${M7}!`);
    });

    it('falls back to the 1.5B ModelServer without the header or with another value', async () => {
      const plain = await openai.completions.create({ model: 'deepseek-multi-models', prompt: 'x' });
      assert.equal(plain.model, M15);
      const other = await client(env.router!, { 'user-type': 'basic' }).completions.create({ model: 'deepseek-multi-models', prompt: 'x' });
      assert.equal(other.model, M15);
      const stream = await openai.completions.create({ model: 'deepseek-multi-models', prompt: 'x', stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
      assert.equal(text, `This is simulated message from ${M15}!`);
    });
  });

  it('lists every routable model and adapter', async () => {
    const list = await openai.models.list();
    const ids = list.data.map((m) => m.id).sort();
    assert.deepEqual(ids, ['deepseek-multi-models', 'deepseek-r1-1-5b-pd-disaggregation', 'deepseek-simple', 'deepseek-subset', 'lora-A', 'lora-B']);
  });
});

describe('seed routing scenario 5: PD-disaggregated routing', () => {
  const PD_FILES = ['ModelServer-ds1.5b-pd-disaggregation.yaml', 'ModelRoute-ds1.5b-pd-disaggregation.yaml'];
  const MODEL = 'deepseek-r1-1-5b-pd-disaggregation';
  let env: TestEnv;
  let openai: OpenAI;
  let pairs: PdPairMocks[];
  let ungrouped: MockEngineHandle;

  before(async () => {
    env = await createEnv();
    for (const file of PD_FILES) await copyFile(join(DEMO_CONFIG_DIR, file), join(env.dir, file));
    // The seed's ModelServer has no kvConnector: the http connector, whose engines need no handshake.
    pairs = await startPdMocks(env, 'seed', 'http', ['pd-0', 'pd-1'], { model: M15 });
    ungrouped = await startMock(env, { model: M15, instanceName: 'ungrouped' });
    await writeYaml(env, 'pods.yaml', [...pdPods('deepseek-r1-1-5b', pairs), podStub('ungrouped', 'deepseek-r1-1-5b', ungrouped.port)]);
    openai = client(await startRouter(env));
  });
  after(() => env.cleanup());

  it('prefills on a P-instance pod, then decodes on a D-instance pod of the same group', async () => {
    for (let i = 0; i < 16; i++) {
      const { data, response } = await openai.completions.create({ model: MODEL, prompt: `San Francisco is a ${i}`, temperature: 0 }).withResponse();
      assert.equal(data.model, M15);
      assert.equal(data.choices[0].text, `This is simulated message from ${M15}!`);
      const pair = pairs.find((p) => p.decode.instanceName === response.headers.get('x-mock-pd-decode'));
      assert.ok(pair, 'a decode pod answered');
      const prefill = await mockStats(pair.prefill);
      const body = prefill.lastRequest?.body as { prompt: string; max_tokens: number; model: string };
      assert.deepEqual([body.prompt, body.max_tokens, body.model], [`San Francisco is a ${i}`, 1, M15], 'its group\'s prefill computed this prompt');
    }
    const counts = await Promise.all(pairs.map(async (p) => [(await mockStats(p.prefill)).received, (await mockStats(p.decode)).received]));
    for (const [prefills, decodes] of counts) assert.equal(prefills, decodes, 'one prefill per decode in each group');
    assert.ok(counts.every(([, decodes]) => decodes > 0), `both groups serve: ${JSON.stringify(counts)}`);
  });

  it('streams the decode to the client', async () => {
    const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, `This is simulated message from ${M15}!`);
  });

  it('leaves a pod without the group label out of PD', async () => {
    assert.equal((await mockStats(ungrouped)).received, 0);
  });
});
