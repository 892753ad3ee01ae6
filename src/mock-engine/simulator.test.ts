// The batch simulator through HTTP: what a router (or a benchmark) sees of it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { eventually, metricValue, postJson, stats, withMockEngine } from './test-support.ts';

const MODEL = 'sim-model';
const LONG_PROMPT = Array.from({ length: 2000 }, (_, i) => `word${i}`).join(' ');

function client(url: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
}

async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** Client-side time to the first streamed token, and the text of the whole answer. */
async function streamedTtft(openai: OpenAI, prompt: string): Promise<{ ttftMs: number; text: string }> {
  const started = performance.now();
  const stream = await openai.completions.create({ model: MODEL, prompt, max_tokens: 3, stream: true });
  let ttftMs: number | undefined;
  let text = '';
  for await (const chunk of stream) {
    ttftMs ??= performance.now() - started;
    text += chunk.choices[0]?.text ?? '';
  }
  return { ttftMs: ttftMs!, text };
}

describe('batch simulator over HTTP', () => {
  it('serves a repeated long prompt from the prefix cache: lower TTFT and the hit counter moves', () =>
    withMockEngine({ model: MODEL, prefillMsPerToken: 0.25 }, async (engine) => {
      const { url } = engine;
      const openai = client(url);
      const hits = async () => metricValue(await scrape(url), `vllm:prefix_cache_hits_total{model_name="${MODEL}"}`);
      assert.equal(await hits(), 0);

      const cold = await streamedTtft(openai, LONG_PROMPT);
      assert.equal(await hits(), 0);
      const warm = await streamedTtft(openai, LONG_PROMPT);
      assert.equal(warm.text, cold.text);
      // 2000 tokens at 0.25 ms cost 500 ms; the cached run recomputes one block (16 tokens, 4 ms).
      assert.ok(cold.ttftMs >= 450, `cold TTFT ${cold.ttftMs} ms`);
      assert.ok(warm.ttftMs * 4 < cold.ttftMs, `warm TTFT ${warm.ttftMs} ms vs cold ${cold.ttftMs} ms`);
      assert.equal(await hits(), 1984, '124 full blocks of 16 tokens');
      const text = await scrape(url);
      assert.equal(metricValue(text, `vllm:prefix_cache_queries_total{model_name="${MODEL}"}`), 4000);
      assert.equal(metricValue(text, `vllm:time_to_first_token_seconds_count{model_name="${MODEL}"}`), 2);

      const state = (await stats(engine)).engine;
      assert.deepEqual([state.simulated, state.prefixCacheQueries, state.prefixCacheHits], [true, 4000, 1984]);

      // vLLM's dev endpoint empties the cache: the next run is cold again.
      assert.equal((await fetch(`${url}/reset_prefix_cache`, { method: 'POST' })).status, 200);
      await streamedTtft(openai, LONG_PROMPT);
      assert.equal(await hits(), 1984);
    }));

  it('reports running, waiting and KV usage exactly as the engine state, in /metrics and /mock/stats', () =>
    withMockEngine({ model: MODEL, engine: 'vllm', maxNumSeqs: 1, kvBlocks: 100, decodeMsBase: 1000 }, async (engine) => {
      const controllers = [0, 1, 2].map(() => new AbortController());
      const responses = await Promise.all(
        controllers.map((controller, index) =>
          postJson(`${engine.url}/v1/completions`, { model: MODEL, prompt: `request ${index} `.repeat(10), max_tokens: 3, stream: true }, { signal: controller.signal }),
        ),
      );
      await responses[0].body!.getReader().read(); // the first request is decoding: nothing changes for a second
      const text = await scrape(engine.url);
      const state = (await stats(engine)).engine;
      const gauge = (name: string) => metricValue(text, `${name}{model_name="${MODEL}"}`);
      assert.deepEqual([state.running, state.waiting], [1, 2]);
      assert.equal(gauge('vllm:num_requests_running'), 1);
      assert.equal(gauge('vllm:num_requests_waiting'), 2);
      assert.equal(state.kvBlocksUsed, 2, '21 tokens in blocks of 16');
      assert.equal(gauge('vllm:kv_cache_usage_perc'), state.kvCacheUsage);
      assert.equal(state.kvCacheUsage, 0.02);
      assert.equal(gauge('vllm:prefix_cache_queries_total'), state.prefixCacheQueries);
      assert.match(text, /^vllm:lora_requests_info\{max_lora="0",running_lora_adapters="",waiting_lora_adapters=""\} \d/m);

      for (const controller of controllers) controller.abort();
      await eventually(async () => (await stats(engine)).inFlight === 0);
      const after = (await stats(engine)).engine;
      assert.deepEqual([after.running, after.waiting, after.kvBlocksUsed], [0, 0, 0], 'cancelled requests leave the engine');
      assert.equal(metricValue(await scrape(engine.url), `vllm:num_requests_waiting{model_name="${MODEL}"}`), 0);
    }));

  it('exposes the SGLang names: queue length and the cache hit rate', () =>
    withMockEngine({ model: MODEL, engine: 'sglang', simulate: true }, async ({ url }) => {
      const prompt = 'shared prefix '.repeat(40);
      await postJson(`${url}/v1/completions`, { model: MODEL, prompt, max_tokens: 1 });
      await postJson(`${url}/v1/completions`, { model: MODEL, prompt, max_tokens: 1 });
      const text = await scrape(url);
      // 80 tokens twice; the second finds 4 blocks of 16 (the last prompt token is always recomputed).
      assert.equal(metricValue(text, `sglang:cache_hit_rate{model_name="${MODEL}"}`), 64 / 160);
      assert.equal(metricValue(text, `sglang:num_queue_reqs{model_name="${MODEL}"}`), 0);
      assert.equal(metricValue(text, `sglang:queue_time_seconds_count{model_name="${MODEL}"}`), 2);
      assert.ok(!text.includes('vllm:'));
    }));

  it('pays the LoRA load delay on a miss and keeps listing every known adapter', () =>
    withMockEngine({ model: MODEL, loraAdapters: ['a', 'b'], maxLoras: 1, loraLoadMs: 300 }, async (engine) => {
      const timed = async (model: string) => {
        const started = performance.now();
        const response = await postJson(`${engine.url}/v1/completions`, { model, prompt: 'hello', max_tokens: 1 });
        assert.equal(response.status, 200);
        return performance.now() - started;
      };
      const miss = await timed('a');
      assert.ok(miss >= 290, `first use of a loads it (${miss} ms)`);
      const hit = await timed('a');
      assert.ok(hit * 2 < miss, `a is resident (${hit} ms)`);
      assert.ok((await timed('b')) >= 290, 'b evicts a');
      const state = (await stats(engine)).engine;
      assert.deepEqual(state.loras.resident, ['b']);
      assert.equal(state.loras.loads, 2);
      const models = (await (await fetch(`${engine.url}/v1/models`)).json()) as { data: { id: string }[] };
      assert.deepEqual(models.data.map((card) => card.id), [MODEL, 'a', 'b'], 'non-resident adapters are still served');

      await postJson(`${engine.url}/v1/unload_lora_adapter`, { lora_name: 'b' });
      assert.deepEqual((await stats(engine)).engine.loras.resident, []);
      await fetch(`${engine.url}/mock/reset`, { method: 'POST' });
      assert.equal((await stats(engine)).engine.loras.loads, 0, '/mock/reset restarts the engine counters');
    }));

  it('refuses a request longer than the KV cache with vLLM\'s 400', () =>
    withMockEngine({ model: MODEL, kvBlocks: 2, blockSize: 16 }, async ({ url }) => {
      const response = await postJson(`${url}/v1/completions`, { model: MODEL, prompt: 'x '.repeat(30), max_tokens: 5 });
      assert.equal(response.status, 400);
      const body = (await response.json()) as { message: string };
      assert.match(body.message, /maximum context length is 32 tokens\. However, you requested 35 tokens \(30 in the messages, 5 in the completion\)/);
    }));

  it('answers the same random text and lengths for the same seed, on any engine', async () => {
    const ask = (seed: number, body: Record<string, unknown>) =>
      withMockEngine({ model: MODEL, mode: 'random', seed, maxTokens: 40 }, async ({ url }) => {
        const completion = await client(url).completions.create({ model: MODEL, prompt: 'tell me something', ...body });
        answers.push({ text: completion.choices[0].text, usage: completion.usage!, finish: completion.choices[0].finish_reason });
      });
    const answers: { text: string; usage: OpenAI.CompletionUsage; finish: string }[] = [];
    await ask(7, {});
    await ask(7, {});
    await ask(8, {});
    await ask(7, { max_tokens: 25 });
    const [first, again, otherSeed, capped] = answers;
    assert.deepEqual(again, first);
    assert.notEqual(otherSeed.text, first.text);
    for (const answer of [first, otherSeed]) {
      assert.ok(answer.usage.completion_tokens >= 1 && answer.usage.completion_tokens <= 40);
      assert.equal(answer.finish, 'stop');
      assert.equal(answer.text.split(' ').length, answer.usage.completion_tokens);
    }
    assert.equal(capped.usage.completion_tokens, 25, 'max_tokens set: the answer fills it');
    assert.equal(capped.finish, 'length');
  });
});
