import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ENGINE_METRIC_NAMES, MOCK_ENGINE_DEFAULTS, startMockEngine } from './index.ts';
import { metricValue, postJson, withMockEngine } from './test-support.ts';

interface ModelList {
  object: string;
  data: Record<string, unknown>[];
}

interface ErrorBody {
  object: string;
  message: string;
  code: number;
}

describe('models and LoRA adapters', () => {
  it('lists the served model and the startup adapters in vLLM shape', () =>
    withMockEngine({ model: 'org/base', servedModelName: 'base', loraAdapters: ['a1', 'a2'] }, async ({ url }) => {
      const body = (await (await fetch(`${url}/v1/models`)).json()) as ModelList;
      assert.equal(body.object, 'list');
      assert.deepEqual(
        body.data.map((card) => [card.id, card.object, card.owned_by, card.root, card.parent, card.max_model_len]),
        [
          ['base', 'model', 'vllm', 'org/base', null, 32_768],
          ['a1', 'model', 'vllm', 'a1', 'base', 32_768],
          ['a2', 'model', 'vllm', 'a2', 'base', 32_768],
        ],
      );
      assert.equal(typeof body.data[0]?.created, 'number');
    }));

  it('reports the context length it enforces: /v1/models, /tokenize and the length error agree (the simulator: the whole cache)', () =>
    withMockEngine({ model: 'base', loraAdapters: ['a1'], kvBlocks: 8, blockSize: 4 }, async ({ url }) => {
      const body = (await (await fetch(`${url}/v1/models`)).json()) as ModelList;
      assert.deepEqual(body.data.map((card) => card.max_model_len), [32, 32]);
      const tokenized = (await (await postJson(`${url}/tokenize`, { model: 'base', prompt: 'x' })).json()) as { max_model_len: number };
      assert.equal(tokenized.max_model_len, 32);
      const tooLong = await postJson(`${url}/v1/completions`, { model: 'base', prompt: 'w '.repeat(40) });
      assert.equal(tooLong.status, 400);
      assert.match(((await tooLong.json()) as ErrorBody).message, /^This model's maximum context length is 32 tokens\./);
    }));

  it('loads and unloads adapters at runtime with vLLM messages', () =>
    withMockEngine({ model: 'base', engine: 'sglang' }, async ({ url }) => {
      const loaded = await postJson(`${url}/v1/load_lora_adapter`, { lora_name: 'sql', lora_path: '/adapters/sql' });
      assert.equal(loaded.status, 200);
      assert.equal(await loaded.text(), "Success: LoRA adapter 'sql' added successfully.");
      const models = (await (await fetch(`${url}/v1/models`)).json()) as ModelList;
      assert.deepEqual(models.data[1], { ...models.data[1], id: 'sql', root: '/adapters/sql', parent: 'base', owned_by: 'sglang' });
      assert.equal((await postJson(`${url}/v1/completions`, { model: 'sql', prompt: 'x' })).status, 200);

      const again = await postJson(`${url}/v1/load_lora_adapter`, { lora_name: 'sql', lora_path: '/adapters/sql' });
      assert.equal(again.status, 400);
      assert.equal(((await again.json()) as ErrorBody).object, 'error');

      const unloaded = await postJson(`${url}/v1/unload_lora_adapter`, { lora_name: 'sql' });
      assert.equal(await unloaded.text(), "Success: LoRA adapter 'sql' removed successfully.");
      assert.equal((await postJson(`${url}/v1/completions`, { model: 'sql', prompt: 'x' })).status, 404);

      const unknown = await postJson(`${url}/v1/unload_lora_adapter`, { lora_name: 'sql' });
      assert.equal(unknown.status, 404);
      assert.deepEqual(await unknown.json(), { object: 'error', message: "The lora adapter 'sql' cannot be found.", type: 'NotFoundError', param: null, code: 404 });
    }));
});

describe('health, headers and malformed input', () => {
  it('answers /health with 200 and an empty body, tagged with the instance name', () =>
    withMockEngine({ model: 'm', instanceName: 'pod-a' }, async ({ url, instanceName }) => {
      assert.equal(instanceName, 'pod-a');
      const response = await fetch(`${url}/health`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), '');
      assert.equal(response.headers.get('x-mock-instance'), 'pod-a');
    }));

  it('names the instance host:port by default', async () => {
    const engine = await startMockEngine({ model: 'm', port: 0 });
    try {
      assert.equal(engine.instanceName, `127.0.0.1:${engine.port}`);
      assert.equal(engine.url, `http://127.0.0.1:${engine.port}`);
    } finally {
      await engine.close();
    }
  });

  it('answers every malformed request with a JSON error and keeps serving', () =>
    withMockEngine({ model: 'm' }, async ({ url }) => {
      const cases: [string, string, number][] = [
        ['/v1/completions', '{not json', 400],
        ['/v1/completions', '[1,2]', 400],
        ['/v1/completions', '{"prompt":"x"}', 400],
        ['/v1/completions', '{"model":"m"}', 400],
        ['/v1/completions', '{"model":"m","prompt":"x","max_tokens":0}', 400],
        ['/v1/completions', '{"model":"m","prompt":"x","max_tokens":1,"min_tokens":2}', 400],
        ['/v1/completions', '{"model":"m","prompt":"x","stream_options":{"include_usage":true}}', 400],
        ['/v1/chat/completions', '{"model":"m","messages":"hi"}', 400],
        ['/v1/chat/completions', '{"model":"m","messages":[{"content":"no role"}]}', 400],
        ['/v1/embeddings', '{"model":"m","input":{}}', 400],
        ['/v1/load_lora_adapter', '{"lora_name":"x"}', 400],
        ['/mock/faults', '{"status":"500"}', 400],
      ];
      for (const [path, body, status] of cases) {
        const response = await fetch(`${url}${path}`, { method: 'POST', body });
        assert.equal(response.status, status, `${path} ${body}`);
        const error = (await response.json()) as ErrorBody;
        assert.equal(error.object, 'error', `${path} ${body}`);
        assert.equal(error.code, status);
        assert.equal(typeof error.message, 'string');
      }
      const notFound = await fetch(`${url}/v2/anything`);
      assert.equal(notFound.status, 404);
      assert.deepEqual(await notFound.json(), { detail: 'Not Found' });
      const wrongMethod = await fetch(`${url}/v1/completions`);
      assert.equal(wrongMethod.status, 405);
      assert.equal((await fetch(`${url}/health`)).status, 200);
    }));

  it('answers unparsable HTTP with a JSON 400', () =>
    withMockEngine({ model: 'm', instanceName: 'raw' }, async (engine) => {
      const reply = await new Promise<string>((resolve, reject) => {
        let text = '';
        const socket = connect(engine.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
        socket.on('data', (data: Buffer) => (text += data.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.match(reply, /^HTTP\/1\.1 400 /);
      assert.match(reply, /x-mock-instance: raw/);
      assert.match(reply, /"object":"error"/);
    }));

  it('refuses invalid options', async () => {
    await assert.rejects(startMockEngine({ model: '' }), /model must be a non-empty string/);
    await assert.rejects(startMockEngine({ model: 'm', port: 0, ttftMs: -1 }), /ttftMs/);
    await assert.rejects(startMockEngine({ model: 'm', port: 0, engine: 'tgi' as 'vllm' }), /engine/);
    // `switchyard mock --kv-replay-port N` alone started an engine with no replay socket, silently.
    const replayAlone = startMockEngine({ model: 'm', port: 0, kvReplayPort: 0 }).then(async (engine) => engine.close()); // closed should it start
    await assert.rejects(replayAlone, /kvReplayPort needs kvEventsPort/);
  });

  it('keeps defaults for options passed as undefined', async () => {
    assert.equal(MOCK_ENGINE_DEFAULTS.maxTokens, 16);
    const engine = await startMockEngine({ model: 'm', port: 0, maxTokens: undefined, mode: undefined });
    try {
      const body = (await (await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' })).json()) as { choices: { text: string }[] };
      assert.equal(body.choices[0]?.text, 'This is simulated message from m!');
    } finally {
      await engine.close();
    }
  });
});

describe('/metrics', () => {
  for (const engine of ['vllm', 'sglang'] as const) {
    it(`exposes ${engine} metric names labelled with the served model`, () =>
      withMockEngine({ model: 'org/m', servedModelName: 'served', engine }, async ({ url }) => {
        const response = await fetch(`${url}/metrics`);
        assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
        const text = await response.text();
        for (const names of Object.values(ENGINE_METRIC_NAMES[engine])) {
          for (const name of names) assert.match(text, new RegExp(`^${name}(_bucket|_sum|_count)?\\{[^}]*model_name="served"`, 'm'), name);
        }
        const otherPrefix = engine === 'vllm' ? 'sglang:' : 'vllm:';
        assert.ok(!text.includes(otherPrefix));
      }));
  }

  it('lists the names the brief asks for', () => {
    const names = (engine: 'vllm' | 'sglang') => Object.values(ENGINE_METRIC_NAMES[engine]).flat();
    for (const name of [
      'vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:time_to_first_token_seconds',
      'vllm:inter_token_latency_seconds', 'vllm:e2e_request_latency_seconds', 'vllm:prompt_tokens_total',
      'vllm:generation_tokens_total', 'vllm:request_success_total',
    ]) assert.ok(names('vllm').includes(name), name);
    for (const name of [
      'sglang:num_running_reqs', 'sglang:num_queue_reqs', 'sglang:token_usage', 'sglang:time_to_first_token_seconds',
      'sglang:inter_token_latency_seconds', 'sglang:e2e_request_latency_seconds', 'sglang:prompt_tokens_total', 'sglang:generation_tokens_total',
    ]) assert.ok(names('sglang').includes(name), name);
  });

  it('moves counters and histograms with real requests, and shows running requests', () =>
    withMockEngine({ model: 'm', itlMs: 30 }, async ({ url }) => {
      const scrape = async () => (await fetch(`${url}/metrics`)).text();
      const value = (text: string, series: string) => metricValue(text, series) ?? Number.NaN;
      const before = await scrape();
      assert.equal(value(before, 'vllm:prompt_tokens_total{model_name="m"}'), 0);

      const streaming = postJson(`${url}/v1/completions`, { model: 'm', prompt: 'a b c', stream: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const during = await scrape();
      assert.equal(value(during, 'vllm:num_requests_running{model_name="m"}'), 1);
      assert.equal(value(during, 'vllm:kv_cache_usage_perc{model_name="m"}'), 1 / 64);
      await (await streaming).text();

      const after = await scrape();
      assert.equal(value(after, 'vllm:num_requests_running{model_name="m"}'), 0);
      assert.equal(value(after, 'vllm:prompt_tokens_total{model_name="m"}'), 3);
      assert.equal(value(after, 'vllm:generation_tokens_total{model_name="m"}'), 6);
      assert.equal(value(after, 'vllm:request_success_total{model_name="m",finished_reason="stop"}'), 1);
      assert.equal(value(after, 'vllm:time_to_first_token_seconds_count{model_name="m"}'), 1);
      assert.equal(value(after, 'vllm:inter_token_latency_seconds_count{model_name="m"}'), 5);
      assert.ok(value(after, 'vllm:inter_token_latency_seconds_sum{model_name="m"}') >= 5 * 0.025);
      assert.equal(value(after, 'vllm:e2e_request_latency_seconds_count{model_name="m"}'), 1);
    }));

  it('keeps the registries of two mocks in one process apart', async () => {
    const first = await startMockEngine({ model: 'one', port: 0 });
    const second = await startMockEngine({ model: 'two', port: 0 });
    try {
      await postJson(`${first.url}/v1/completions`, { model: 'one', prompt: 'x y' });
      const secondText = await (await fetch(`${second.url}/metrics`)).text();
      assert.equal(metricValue(secondText, 'vllm:prompt_tokens_total{model_name="two"}'), 0);
      assert.ok(!secondText.includes('model_name="one"'));
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
