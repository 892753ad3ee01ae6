import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { postJson, sseData, withMockEngine } from './test-support.ts';

const MODEL = 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B';
const FIXED_TEXT = `This is simulated message from ${MODEL}!`;

function client(url: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
}

describe('completions through the official openai client', () => {
  it('answers a non-streaming completion in vLLM shape with consistent usage', () =>
    withMockEngine({ model: MODEL }, async ({ url }) => {
      const completion = await client(url).completions.create({ model: MODEL, prompt: 'Say hello to the router' });
      assert.match(completion.id, /^cmpl-/);
      assert.equal(completion.object, 'text_completion');
      assert.equal(completion.model, MODEL);
      assert.equal(completion.choices.length, 1);
      assert.equal(completion.choices[0].text, FIXED_TEXT);
      assert.equal(completion.choices[0].finish_reason, 'stop');
      assert.deepEqual(completion.usage, { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 });
    }));

  it('streams a completion token by token, without usage unless asked', () =>
    withMockEngine({ model: MODEL }, async ({ url }) => {
      const stream = await client(url).completions.create({ model: MODEL, prompt: 'hi', stream: true });
      const chunks: OpenAI.Completions.Completion[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.deepEqual(
        chunks.map((chunk) => chunk.choices[0].text),
        ['This', ' is', ' simulated', ' message', ' from', ` ${MODEL}!`],
      );
      assert.ok(chunks.every((chunk) => chunk.object === 'text_completion' && chunk.model === MODEL && chunk.usage == null));
      assert.deepEqual(
        chunks.map((chunk) => chunk.choices[0].finish_reason),
        [null, null, null, null, null, 'stop'],
      );
    }));

  it('answers n choices, as vLLM does: each indexed, usage counting every choice (it answered one)', () =>
    withMockEngine({ model: MODEL }, async ({ url }) => {
      const openai = client(url);
      const completion = await openai.completions.create({ model: MODEL, prompt: 'a b c', n: 3, max_tokens: 2 });
      assert.deepEqual(completion.choices.map((c) => [c.index, c.text, c.finish_reason]), [[0, 'This is', 'length'], [1, 'This is', 'length'], [2, 'This is', 'length']]);
      assert.deepEqual(completion.usage, { prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 });

      const chat = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 2 });
      assert.deepEqual(chat.choices.map((c) => [c.index, c.message.content, c.finish_reason]), [[0, FIXED_TEXT, 'stop'], [1, FIXED_TEXT, 'stop']]);
      assert.equal(chat.usage?.completion_tokens, 12);

      const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 2, stream: true, stream_options: { include_usage: true } });
      const texts = ['', ''];
      const finished: (string | null)[] = [null, null];
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        for (const choice of chunk.choices) {
          texts[choice.index] += choice.delta.content ?? '';
          finished[choice.index] ??= choice.finish_reason;
        }
        usage ??= chunk.usage;
      }
      assert.deepEqual(texts, [FIXED_TEXT, FIXED_TEXT]);
      assert.deepEqual(finished, ['stop', 'stop']);
      assert.equal(usage?.completion_tokens, 12);

      for (const n of [0, 1.5, '2']) {
        const refused = await postJson(`${url}/v1/completions`, { model: MODEL, prompt: 'x', n });
        assert.equal(refused.status, 400, String(n));
      }
    }));

  it('cuts the answer at max_tokens with finish_reason length', () =>
    withMockEngine({ model: MODEL }, async ({ url }) => {
      const completion = await client(url).completions.create({ model: MODEL, prompt: 'a b c', max_tokens: 2 });
      assert.equal(completion.choices[0].text, 'This is');
      assert.equal(completion.choices[0].finish_reason, 'length');
      assert.deepEqual(completion.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
    }));

  it('uses the maxTokens option when the request has no max_tokens', () =>
    withMockEngine({ model: MODEL, mode: 'echo', maxTokens: 3 }, async ({ url }) => {
      const completion = await client(url).completions.create({ model: MODEL, prompt: 'one two three four five' });
      assert.equal(completion.choices[0].text, 'one two three');
      assert.equal(completion.choices[0].finish_reason, 'length');
    }));

  it('echoes the prompt in echo mode, and counts list and token-id prompts', () =>
    withMockEngine({ model: MODEL, mode: 'echo' }, async ({ url }) => {
      const echoed = await client(url).completions.create({ model: MODEL, prompt: 'repeat  after me' });
      assert.equal(echoed.choices[0].text, 'repeat  after me');
      assert.equal(echoed.usage!.completion_tokens, 3);
      const ids = await client(url).completions.create({ model: MODEL, prompt: [1, 2, 3, 4], max_tokens: 10 });
      assert.equal(ids.usage!.prompt_tokens, 4);
      const list = await client(url).completions.create({ model: MODEL, prompt: ['a b', 'c'], max_tokens: 10 });
      assert.equal(list.usage!.prompt_tokens, 3);
    }));
});

describe('chat completions through the official openai client', () => {
  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Tell me about routers' },
  ];

  it('answers a non-streaming chat completion', () =>
    withMockEngine({ model: MODEL }, async ({ url }) => {
      const chat = await client(url).chat.completions.create({ model: MODEL, messages });
      assert.match(chat.id, /^chatcmpl-/);
      assert.equal(chat.object, 'chat.completion');
      assert.equal(chat.model, MODEL);
      assert.equal(chat.choices[0].message.role, 'assistant');
      assert.equal(chat.choices[0].message.content, FIXED_TEXT);
      assert.equal(chat.choices[0].finish_reason, 'stop');
      // 3 + 4 words, plus 4 per message
      assert.deepEqual(chat.usage, { prompt_tokens: 15, completion_tokens: 6, total_tokens: 21 });
    }));

  it('streams a chat completion with the role first and the usage-only chunk when asked', () =>
    withMockEngine({ model: MODEL, mode: 'echo' }, async ({ url }) => {
      const stream = await client(url).chat.completions.create({
        model: MODEL,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
      const contentChunks = chunks.slice(1, -1);
      assert.equal(contentChunks.map((chunk) => chunk.choices[0].delta.content).join(''), 'Tell me about routers');
      assert.equal(contentChunks.at(-1)!.choices[0].finish_reason, 'stop');
      const usageChunk = chunks.at(-1)!;
      assert.deepEqual(usageChunk.choices, []);
      assert.deepEqual(usageChunk.usage, { prompt_tokens: 15, completion_tokens: 4, total_tokens: 19 });
      assert.ok(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.id === chunks[0].id));
    }));

  it('prefers max_completion_tokens for chat', () =>
    withMockEngine({ model: MODEL }, async ({ url }) => {
      const chat = await client(url).chat.completions.create({ model: MODEL, messages, max_completion_tokens: 1, max_tokens: 5 });
      assert.equal(chat.choices[0].message.content, 'This');
      assert.equal(chat.choices[0].finish_reason, 'length');
      assert.equal(chat.usage!.completion_tokens, 1);
    }));

  it('answers under the name of a loaded LoRA adapter', () =>
    withMockEngine({ model: MODEL, servedModelName: 'qwen', loraAdapters: ['sql-lora'] }, async ({ url }) => {
      const chat = await client(url).chat.completions.create({ model: 'sql-lora', messages });
      assert.equal(chat.model, 'sql-lora');
      assert.equal(chat.choices[0].message.content, 'This is simulated message from sql-lora!');
      await assert.rejects(client(url).chat.completions.create({ model: MODEL, messages }), { status: 404 });
    }));

  it('rejects an unknown model with 404 and vLLM\'s error body', () =>
    withMockEngine({ model: MODEL }, async ({ url }) => {
      await assert.rejects(client(url).chat.completions.create({ model: 'nope', messages }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.NotFoundError);
        assert.equal(error.message, '404 The model `nope` does not exist.');
        return true;
      });
      const response = await postJson(`${url}/v1/completions`, { model: 'nope', prompt: 'x' });
      assert.equal(response.status, 404);
      assert.deepEqual(await response.json(), {
        object: 'error',
        message: 'The model `nope` does not exist.',
        type: 'NotFoundError',
        param: null,
        code: 404,
      });
    }));
});

describe('raw server-sent events', () => {
  it('orders token events, finish reason, usage chunk and [DONE]', () =>
    withMockEngine({ model: 'm' }, async ({ url }) => {
      const response = await postJson(`${url}/v1/completions`, { model: 'm', prompt: 'p', stream: true, stream_options: { include_usage: true }, max_tokens: 3 });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const events = sseData(await response.text());
      assert.equal(events.at(-1), '[DONE]');
      type CompletionChunk = { choices: { text: string; finish_reason: string | null }[]; usage?: unknown };
      const parsed = events.slice(0, -1).map((event) => JSON.parse(event) as CompletionChunk);
      assert.deepEqual(
        parsed.map((event) => [event.choices[0]?.text, event.choices[0]?.finish_reason]),
        [['This', null], [' is', null], [' simulated', 'length'], [undefined, undefined]],
      );
      assert.deepEqual(parsed.at(-1)?.usage, { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 });
      assert.ok(!('usage' in parsed[0]));
    }));

  it('sends headers at once and paces tokens by ttft and itl', () =>
    withMockEngine({ model: 'm', ttftMs: 300, itlMs: 40 }, async ({ url }) => {
      const started = performance.now();
      const response = await postJson(`${url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
      const headersAfter = performance.now() - started;
      const events = sseData(await response.text());
      const totalAfter = performance.now() - started;
      assert.ok(headersAfter < 250, `headers took ${headersAfter} ms`);
      assert.ok(totalAfter >= 300 + 5 * 40 - 5, `stream took ${totalAfter} ms`);
      assert.equal(events.length, 1 + 6 + 1); // role, 6 tokens, [DONE]
    }));

  it('delays a non-streaming answer by ttft + (tokens - 1) * itl', () =>
    withMockEngine({ model: 'm', ttftMs: 50, itlMs: 30 }, async ({ url }) => {
      const started = performance.now();
      const response = await postJson(`${url}/v1/completions`, { model: 'm', prompt: 'x', max_tokens: 4 });
      const elapsed = performance.now() - started;
      assert.equal(response.status, 200);
      assert.ok(elapsed >= 50 + 3 * 30 - 5, `answer took ${elapsed} ms`);
    }));

  it('ends an empty echo with a finish chunk', () =>
    withMockEngine({ model: 'm', mode: 'echo' }, async ({ url }) => {
      const response = await postJson(`${url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'system', content: 'only system' }], stream: true });
      const events = sseData(await response.text());
      assert.equal(events.length, 3);
      const finish = JSON.parse(events[1] ?? '') as { choices: { delta: unknown; finish_reason: string }[] };
      assert.deepEqual(finish.choices[0]?.delta, { content: '' });
      assert.equal(finish.choices[0]?.finish_reason, 'stop');
    }));
});

describe('embeddings', () => {
  it('returns 8 deterministic floats per input, as floats or base64', () =>
    withMockEngine({ model: 'm' }, async ({ url }) => {
      const openai = client(url);
      const first = await openai.embeddings.create({ model: 'm', input: ['alpha beta', 'gamma'] }); // base64 on the wire
      const again = await openai.embeddings.create({ model: 'm', input: 'alpha beta', encoding_format: 'float' });
      assert.equal(first.object, 'list');
      assert.equal(first.data.length, 2);
      assert.equal(first.data[0].embedding.length, 8);
      assert.deepEqual(first.data[0].embedding, again.data[0].embedding);
      assert.notDeepEqual(first.data[0].embedding, first.data[1].embedding);
      assert.deepEqual(first.usage, { prompt_tokens: 3, total_tokens: 3 });
    }));
});
