// PD disaggregation, every connector, through the router with the official openai client, against role mocks that
// check the handshake for real (nixl/mooncake: one-time transfer ids claimed from the named prefill; sglang: both
// sides meet on the prefill's bootstrap server; http/lmcache: no handshake). Two groups per connector: the pair
// always stays within a group, as the instances reported by the mocks show.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type OpenAI from 'openai';
import { client, createEnv, get, mockStats, post, simpleRoute, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { CONNECTORS, pdPods, pdServer, startPdMocks, type Connector, type PdPairMocks } from '../support/pd-fixtures.ts';

const MODEL = 'org/pd-model';
const ANSWER = `This is simulated message from ${MODEL}!`;

interface PdBody {
  model?: string;
  stream?: boolean;
  stream_options?: unknown;
  max_tokens?: number;
  max_completion_tokens?: number;
  min_tokens?: number;
  kv_transfer_params?: Record<string, unknown>;
  bootstrap_room?: number;
  bootstrap_host?: string;
  bootstrap_port?: number;
}

describe('PD disaggregation: every connector end to end', () => {
  let env: TestEnv;
  let openai: OpenAI;
  let routerUrl: string;
  const mocks = new Map<Connector, PdPairMocks[]>();
  let prompts = 0;
  // A new prompt each time: the default scheduler's prefix-cache plugin would keep a repeated prompt on one pair.
  const prompt = (): string => `San Francisco is a city number ${++prompts}`;

  before(async () => {
    env = await createEnv();
    const docs: string[] = [];
    for (const connector of CONNECTORS) {
      const pairs = await startPdMocks(env, connector, connector, ['g1', 'g2'], { model: MODEL });
      mocks.set(connector, pairs);
      docs.push(pdServer(`pd-${connector}`, connector, { model: MODEL }), ...pdPods(`pd-${connector}`, pairs), simpleRoute(`pd-${connector}`, `pd-${connector}`, `pd-${connector}`));
    }
    await writeYaml(env, 'pd.yaml', docs);
    const router = await startRouter(env);
    routerUrl = router.url;
    openai = client(router);
  });
  after(() => env.cleanup());

  const groupOf = (connector: Connector, instance: string | null): string | undefined =>
    mocks.get(connector)!.find((p) => p.prefill.instanceName === instance || p.decode.instanceName === instance)?.group;

  /** The last prefill and decode request bodies each pair's mocks received (the pair that served has both). */
  async function lastBodies(connector: Connector, decodeInstance: string): Promise<{ prefill: PdBody; decode: PdBody }> {
    const pair = mocks.get(connector)!.find((p) => p.decode.instanceName === decodeInstance)!;
    const [p, d] = await Promise.all([mockStats(pair.prefill), mockStats(pair.decode)]);
    return { prefill: p.lastRequest!.body as PdBody, decode: d.lastRequest!.body as PdBody };
  }

  for (const connector of CONNECTORS) {
    describe(connector, () => {
      const model = `pd-${connector}`;
      const handshake = connector === 'nixl' || connector === 'mooncake' || connector === 'sglang';

      it('answers non-streaming completions from a prefill/decode pair of one group', async () => {
        const { data, response } = await openai.completions.create({ model, prompt: prompt(), max_tokens: 7 }).withResponse();
        assert.equal(data.choices[0].text, ANSWER);
        assert.equal(data.model, MODEL);
        const decode = response.headers.get('x-mock-pd-decode');
        assert.ok(decode !== null, 'the decode pod answered');
        assert.equal(response.headers.get('x-mock-instance'), decode);
        const { prefill, decode: decodeBody } = await lastBodies(connector, decode);
        // The prefill computes the prompt and one token, without streaming.
        assert.equal(prefill.max_tokens, 1);
        assert.equal(prefill.stream, undefined);
        assert.equal(prefill.model, MODEL);
        // The decode gets the client's request.
        assert.equal(decodeBody.max_tokens, 7);
        if (handshake) {
          const prefillName = response.headers.get('x-mock-pd-prefill');
          assert.equal(groupOf(connector, prefillName), groupOf(connector, decode), `${prefillName} and ${decode} are one group`);
        }
        if (connector === 'nixl' || connector === 'mooncake') {
          assert.deepEqual(prefill.kv_transfer_params, { do_remote_decode: true, do_remote_prefill: false });
          assert.equal(decodeBody.kv_transfer_params?.do_remote_prefill, true);
          assert.equal(decodeBody.kv_transfer_params?.remote_engine_id, response.headers.get('x-mock-pd-prefill'));
        } else if (connector === 'sglang') {
          const pair = mocks.get(connector)!.find((p) => p.decode.instanceName === decode)!;
          assert.equal(typeof prefill.bootstrap_room, 'number');
          assert.equal(decodeBody.bootstrap_room, prefill.bootstrap_room, 'one room for both sides');
          assert.equal(decodeBody.bootstrap_host, '127.0.0.1');
          assert.equal(decodeBody.bootstrap_port, pair.prefill.bootstrapPort, 'the pod annotation, not a guess');
        } else {
          assert.equal(decodeBody.kv_transfer_params, undefined);
          assert.equal(decodeBody.bootstrap_room, undefined);
        }
      });

      it('streams chat chunk by chunk, hiding the usage chunk it asked for on the client\'s behalf', async () => {
        const { data: stream, response } = await openai.chat.completions
          .create({ model, messages: [{ role: 'user', content: prompt() }], stream: true, max_completion_tokens: 12 })
          .withResponse();
        let text = '';
        let chunks = 0;
        for await (const chunk of stream) {
          chunks++;
          assert.equal(chunk.usage ?? null, null);
          assert.ok(chunk.choices.length > 0, 'no usage-only chunk reaches the client');
          text += chunk.choices[0].delta.content ?? '';
        }
        assert.equal(text, ANSWER);
        assert.ok(chunks > 2);
        const decode = response.headers.get('x-mock-pd-decode')!;
        const bodies = await lastBodies(connector, decode);
        assert.equal(bodies.prefill.stream, undefined, 'stream removed from the prefill');
        assert.equal(bodies.prefill.stream_options, undefined, 'stream_options removed from the prefill');
        assert.equal(bodies.prefill.max_completion_tokens, 1, 'present in the client request: 1 for the prefill');
        assert.deepEqual(bodies.decode.stream_options, { include_usage: true }, 'usage asked of the decode');
      });

      it('passes the usage chunk through when the client asks for it', async () => {
        const stream = await openai.completions.create({ model, prompt: prompt(), stream: true, stream_options: { include_usage: true } });
        let text = '';
        let usage: OpenAI.CompletionUsage | null = null;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.text ?? '';
          if (chunk.usage) usage = chunk.usage;
        }
        assert.equal(text, ANSWER);
        assert.ok(usage !== null && usage.completion_tokens === 6);
      });

      it('serves a request with min_tokens, which only the decode gets (the engine refuses it above the prefill\'s one token)', async () => {
        const res = await post(`${routerUrl}/v1/completions`, { model, prompt: prompt(), max_tokens: 7, min_tokens: 3 });
        assert.equal(res.status, 200, res.text);
        const bodies = await lastBodies(connector, String(res.headers['x-mock-pd-decode']));
        assert.equal(bodies.prefill.min_tokens, undefined);
        assert.equal(bodies.decode.min_tokens, 3);
      });

      it('keeps every pair within one group and uses both groups', async () => {
        const used = new Set<string>();
        for (let i = 0; i < 16; i++) {
          const { response } = await openai.completions.create({ model, prompt: prompt(), max_tokens: 2 }).withResponse();
          const decode = response.headers.get('x-mock-pd-decode');
          const group = groupOf(connector, decode);
          assert.ok(group !== undefined);
          used.add(group);
          if (handshake) assert.equal(groupOf(connector, response.headers.get('x-mock-pd-prefill')), group);
        }
        assert.deepEqual([...used].sort(), ['g1', 'g2']);
        // Every prefill request was followed by a decode in the same group: per group, the counts match.
        for (const pair of mocks.get(connector)!) {
          const [p, d] = await Promise.all([mockStats(pair.prefill), mockStats(pair.decode)]);
          assert.equal(p.received, d.received, `group ${pair.group}: prefills ${p.received}, decodes ${d.received}`);
          assert.equal(p.cancelled + d.cancelled, 0);
        }
      });

      it('answers Responses and Messages requests (nixl, mooncake: from the decode alone, their answers carry no kv_transfer_params)', async () => {
        const pairs = mocks.get(connector)!;
        const prefills = async (): Promise<number> => (await Promise.all(pairs.map((p) => mockStats(p.prefill)))).reduce((sum, s) => sum + s.received, 0);
        const before = await prefills();
        const responded = await post(`${routerUrl}/v1/responses`, { model, input: prompt(), max_output_tokens: 4 });
        assert.equal(responded.status, 200, responded.text);
        const messaged = await post(`${routerUrl}/v1/messages`, { model, max_tokens: 4, messages: [{ role: 'user', content: prompt() }] });
        assert.equal(messaged.status, 200, messaged.text);
        const decodes = new Set(pairs.map((p) => p.decode.instanceName));
        for (const res of [responded, messaged]) assert.ok(decodes.has(String(res.headers['x-mock-instance'])), 'a decode pod answered');
        if (connector === 'nixl' || connector === 'mooncake') assert.equal(await prefills(), before, 'no prefill request');
      });

      it('serves embeddings and count_tokens from one decode pod: nothing to prefill (a nixl pair failed them with 502)', async () => {
        const pairs = mocks.get(connector)!;
        const prefills = async (): Promise<number> => (await Promise.all(pairs.map((p) => mockStats(p.prefill)))).reduce((sum, s) => sum + s.received, 0);
        const before = await prefills();
        const decodes = new Set(pairs.map((p) => p.decode.instanceName));
        const embedded = await post(`${routerUrl}/v1/embeddings`, { model, input: prompt() });
        assert.equal(embedded.status, 200, embedded.text);
        assert.ok(decodes.has(String(embedded.headers['x-mock-instance'])));
        const counted = await post(`${routerUrl}/v1/messages/count_tokens`, { model, messages: [{ role: 'user', content: prompt() }] });
        assert.equal(counted.status, 200, counted.text);
        assert.ok(decodes.has(String(counted.headers['x-mock-instance'])));
        assert.equal(await prefills(), before, 'no prefill request');
      });
    });
  }

  // The Responses API's limit is max_output_tokens: a prefill sent only max_tokens: 1 generated the whole answer
  // before the decode could start.
  it('has the prefill of a Responses request compute one token (max_output_tokens: 1), not the whole answer', async () => {
    const generated = async (mock: PdPairMocks['prefill']): Promise<number> =>
      Number(/^vllm:generation_tokens_total\{[^}]*\} (\S+)$/m.exec((await get(`${mock.url}/metrics`)).text)?.[1]);
    const pairs = mocks.get('http')!;
    const before = await Promise.all(pairs.map((pair) => generated(pair.prefill)));
    const { data: stream, response } = await openai.responses.create({ model: 'pd-http', input: prompt(), stream: true }).withResponse();
    let text = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
    assert.equal(text, ANSWER);
    const pair = pairs.find((p) => p.decode.instanceName === response.headers.get('x-mock-instance'))!;
    const prefill = (await mockStats(pair.prefill)).lastRequest!.body as PdBody & { max_output_tokens?: number };
    assert.equal(prefill.max_output_tokens, 1);
    assert.equal(prefill.stream, undefined);
    const after = await Promise.all(pairs.map((p) => generated(p.prefill)));
    assert.equal(after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0), 1, 'the prefill generated one token');
  });

  // The decode pod stores a pair's response; a prefill pod has no such response and would answer 404.
  it('serves a Responses follow-up (previous_response_id) from the decode pod that stores the response, without a prefill', async () => {
    const pairs = mocks.get('http')!;
    const prefills = async (): Promise<number> => (await Promise.all(pairs.map((p) => mockStats(p.prefill)))).reduce((sum, s) => sum + s.received, 0);
    const first = await openai.responses.create({ model: 'pd-http', input: prompt(), max_output_tokens: 2 }).withResponse();
    const home = first.response.headers.get('x-mock-instance');
    let previous = first.data.id;
    for (let turn = 1; turn <= 4; turn++) {
      const before = await prefills();
      const next = await openai.responses.create({ model: 'pd-http', input: `Turn ${turn}: ${prompt()}`, previous_response_id: previous, max_output_tokens: 2 }).withResponse();
      assert.equal(next.response.headers.get('x-mock-instance'), home, `turn ${turn}`);
      assert.equal(await prefills(), before, `turn ${turn}: no prefill request`);
      previous = next.data.id;
    }
    const fetched = await openai.responses.retrieve(previous).withResponse();
    assert.equal(fetched.response.headers.get('x-mock-instance'), home);
  });
});
