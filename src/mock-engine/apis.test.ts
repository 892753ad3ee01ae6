// The Responses and Messages endpoints on their own: shapes, limits, validation, usage, metrics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metricValue, postJson, withMockEngine } from './test-support.ts';

const MODEL = 'org/m';

/** Event names and parsed data of a named-event SSE body. */
function events(text: string): { name: string; data: Record<string, unknown> }[] {
  return text.split('\n\n').filter((e) => e.startsWith('event: ')).map((e) => {
    const [head, data] = e.split('\n');
    return { name: head.slice('event: '.length), data: JSON.parse(data.slice('data: '.length)) as Record<string, unknown> };
  });
}

describe('POST /v1/responses', () => {
  it('answers a response object; a cut by max_output_tokens is status incomplete', async () => {
    await withMockEngine({ model: MODEL }, async (engine) => {
      const whole = (await (await postJson(`${engine.url}/v1/responses`, { model: MODEL, input: 'hi' })).json()) as Record<string, unknown>;
      assert.equal(whole.object, 'response');
      assert.equal(whole.status, 'completed');
      const usage = whole.usage as { input_tokens: number; output_tokens: number; total_tokens: number };
      assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
      const cut = (await (await postJson(`${engine.url}/v1/responses`, { model: MODEL, input: 'hi', max_output_tokens: 2 })).json()) as Record<string, unknown>;
      assert.equal(cut.status, 'incomplete');
      assert.deepEqual(cut.incomplete_details, { reason: 'max_output_tokens' });
    });
  });

  it('streams numbered events ending in response.completed with usage; counts the tokens in its metrics', async () => {
    await withMockEngine({ model: MODEL }, async (engine) => {
      const res = await postJson(`${engine.url}/v1/responses`, { model: MODEL, input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true });
      const list = events(await res.text());
      assert.deepEqual(list.map((e) => e.data.sequence_number), list.map((_, i) => i));
      assert.ok(list.every((e) => e.data.type === e.name));
      const last = list.at(-1)!;
      assert.equal(last.name, 'response.completed');
      const deltas = list.filter((e) => e.name === 'response.output_text.delta').length;
      assert.equal((last.data.response as { usage: { output_tokens: number } }).usage.output_tokens, deltas);
      const metrics = await (await fetch(`${engine.url}/metrics`)).text();
      assert.equal(metricValue(metrics, `vllm:generation_tokens_total{model_name="${MODEL}"}`), deltas);
    });
  });

  it('refuses an input that is neither text nor messages', async () => {
    await withMockEngine({ model: MODEL }, async (engine) => {
      assert.equal((await postJson(`${engine.url}/v1/responses`, { model: MODEL, input: 3 })).status, 400);
    });
  });
});

describe('POST /v1/messages', () => {
  it('requires max_tokens and answers a message with usage', async () => {
    await withMockEngine({ model: MODEL }, async (engine) => {
      assert.equal((await postJson(`${engine.url}/v1/messages`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }] })).status, 400);
      const message = (await (await postJson(`${engine.url}/v1/messages`, { model: MODEL, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })).json()) as Record<string, unknown>;
      assert.equal(message.type, 'message');
      assert.equal(message.stop_reason, 'end_turn');
      assert.ok((message.usage as { input_tokens: number }).input_tokens > 0);
    });
  });

  it('streams the Anthropic event sequence; count_tokens counts the same prompt', async () => {
    await withMockEngine({ model: MODEL }, async (engine) => {
      const body = { model: MODEL, max_tokens: 2, system: [{ type: 'text', text: 'Be brief.' }], messages: [{ role: 'user', content: 'hi there' }] };
      const list = events(await (await postJson(`${engine.url}/v1/messages`, { ...body, stream: true })).text());
      assert.deepEqual(list.map((e) => e.name), ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
      const delta = list.find((e) => e.name === 'message_delta')!.data as { delta: { stop_reason: string }; usage: { output_tokens: number } };
      assert.deepEqual([delta.delta.stop_reason, delta.usage.output_tokens], ['max_tokens', 2]);
      const input = (list[0].data.message as { usage: { input_tokens: number } }).usage.input_tokens;
      const counted = (await (await postJson(`${engine.url}/v1/messages/count_tokens`, body)).json()) as { input_tokens: number };
      assert.equal(counted.input_tokens, input);
    });
  });
});
