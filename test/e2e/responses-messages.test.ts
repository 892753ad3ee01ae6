// The Responses and Messages APIs through the router to mock vLLM pods, with the official clients: routed by
// `model`, streamed and not, usage read from each protocol's own fields, no stream_options added to either; also the
// Vercel AI SDK's default OpenAI provider (which calls the Responses API). And an upstream that compresses: the
// router asks for identity on streams, so the usage tap reads every event.
import { createOpenAI } from '@ai-sdk/openai';
import Anthropic from '@anthropic-ai/sdk';
import { generateText, streamText } from 'ai';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { RequestRecord } from '../../src/server/inference-handler.ts';
import { createEnv, mockFault, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { rawRequest, sseData } from '../support/raw-http.ts';

const BASE = 'org/base-model';

describe('Responses and Messages APIs', () => {
  let env: TestEnv;
  let mock: MockEngineHandle;
  let fake: FakePod;
  let url: string;
  let openai: OpenAI;
  let anthropic: Anthropic;
  const records: RequestRecord[] = [];

  before(async () => {
    env = await createEnv();
    mock = await startMock(env, { model: BASE });
    fake = await startFakePod('gz');
    await writeYaml(env, 'config.yaml', [
      modelServer('base', { model: BASE }),
      podStub('base-0', 'base', mock.port),
      simpleRoute('assistant', 'assistant', 'base'),
      modelServer('gz'),
      podStub('gz-0', 'gz', fake.port),
      simpleRoute('gz', 'gz', 'gz'),
    ]);
    url = (await startRouter(env, { onRequestDone: (record) => records.push(record) })).url;
    openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 });
  });
  after(async () => {
    await env.cleanup();
    await fake.close();
  });

  /** The record of the request that ended last, once it has. */
  const lastRecord = async (count: number): Promise<RequestRecord> => {
    await waitFor(() => records.length > count, 2000, 'the request record');
    return records[records.length - 1];
  };
  const lastUpstreamBody = async (): Promise<Record<string, unknown>> => (await mockStats(mock)).lastRequest?.body as Record<string, unknown>;

  describe('/v1/responses with the openai client', () => {
    it('answers without a stream, the model rewritten, usage recorded', async () => {
      const count = records.length;
      const response = await openai.responses.create({ model: 'assistant', input: 'Say hello', instructions: 'Be brief.', max_output_tokens: 4 });
      assert.equal(response.object, 'response');
      assert.equal(response.model, BASE);
      assert.equal(response.output_text, 'This is simulated message');
      assert.equal(response.usage?.output_tokens, 4);
      const upstream = await lastUpstreamBody();
      assert.equal(upstream.model, BASE);
      const record = await lastRecord(count);
      assert.equal(record.path, '/v1/responses');
      assert.deepEqual(record.outcome?.usage, { promptTokens: response.usage?.input_tokens, completionTokens: 4, totalTokens: response.usage?.total_tokens });
    });

    it('streams the event sequence, usage read from response.completed, no stream_options sent', async () => {
      const count = records.length;
      const stream = await openai.responses.create({ model: 'assistant', input: [{ role: 'user', content: 'Hi there' }], stream: true });
      const types: string[] = [];
      let text = '';
      let usage: OpenAI.Responses.ResponseUsage | undefined;
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'response.output_text.delta') text += event.delta;
        if (event.type === 'response.completed') usage = event.response.usage;
      }
      assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
      assert.equal(types.at(-1), 'response.completed');
      assert.equal(text, `This is simulated message from ${BASE}!`);
      const upstream = await lastUpstreamBody();
      assert.equal(upstream.stream, true);
      assert.equal('stream_options' in upstream, false, 'the Responses API has no stream_options');
      const record = await lastRecord(count);
      assert.ok(usage !== undefined);
      assert.deepEqual(record.outcome?.usage, { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens });
    });
  });

  describe("the Vercel AI SDK's default OpenAI provider", () => {
    it('generates and streams text through /v1/responses', async () => {
      const provider = createOpenAI({ baseURL: `${url}/v1`, apiKey: 'k' });
      const whole = await generateText({ model: provider('assistant'), prompt: 'Hello there', maxRetries: 0 });
      assert.equal(whole.text, `This is simulated message from ${BASE}!`);
      assert.equal((await mockStats(mock)).lastRequest?.path, '/v1/responses', 'the SDK\'s default API');
      assert.ok((whole.usage.outputTokens ?? 0) > 0);
      const streamed = streamText({ model: provider('assistant'), prompt: 'Hello there', maxRetries: 0 });
      let text = '';
      for await (const delta of streamed.textStream) text += delta;
      assert.equal(text, `This is simulated message from ${BASE}!`);
      assert.equal((await streamed.usage).outputTokens, whole.usage.outputTokens);
    });
  });

  describe('/v1/messages with the anthropic client', () => {
    it('answers without a stream, usage recorded', async () => {
      const count = records.length;
      const message = await anthropic.messages.create({ model: 'assistant', max_tokens: 3, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello' }] });
      assert.equal(message.type, 'message');
      assert.equal(message.role, 'assistant');
      assert.equal(message.stop_reason, 'max_tokens');
      assert.deepEqual(message.content.map((block) => (block.type === 'text' ? block.text : '')), ['This is simulated']);
      assert.equal((await lastUpstreamBody()).model, BASE);
      const record = await lastRecord(count);
      assert.equal(record.outcome?.usage?.promptTokens, message.usage.input_tokens);
      assert.equal(record.outcome?.usage?.completionTokens, 3);
    });

    it('streams message_start … message_stop; input from message_start, output from message_delta; no stream_options', async () => {
      const count = records.length;
      const stream = await anthropic.messages.create({ model: 'assistant', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }], stream: true });
      const types: string[] = [];
      let text = '';
      let input = -1;
      let output = -1;
      let deltas = 0;
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'message_start') input = event.message.usage.input_tokens;
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
          text += event.delta.text;
          deltas++;
        }
        if (event.type === 'message_delta') output = event.usage.output_tokens;
      }
      assert.equal(types[0], 'message_start');
      assert.equal(types.at(-1), 'message_stop');
      assert.ok(types.includes('message_delta'));
      assert.equal(text, `This is simulated message from ${BASE}!`);
      assert.ok(input > 0);
      assert.equal(output, deltas);
      const upstream = await lastUpstreamBody();
      assert.equal('stream_options' in upstream, false, 'the Messages API has no stream_options');
      const record = await lastRecord(count);
      assert.deepEqual(record.outcome?.usage, { promptTokens: input, completionTokens: output, totalTokens: input + output });
    });

    it("ends a stream that breaks with Anthropic's error event, which the client raises", async () => {
      await mockFault(mock, { dropAfterChunks: 3 });
      const count = records.length;
      const stream = await anthropic.messages.create({ model: 'assistant', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }], stream: true });
      const types: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const event of stream) types.push(event.type);
        })(),
        (err: unknown) => {
          // The SDK raises an `event: error` as an APIError carrying the event's error object.
          assert.ok(err instanceof Anthropic.APIError, String(err));
          assert.deepEqual((err.error as { type: string; error: { type: string } }).error.type, 'api_error');
          assert.match(err.message, /broke off the response/);
          return true;
        },
      );
      assert.equal(types[0], 'message_start');
      assert.ok(!types.includes('message_stop'));
      const record = await lastRecord(count);
      assert.equal(record.error?.code, 'upstream_stream_error');
    });

    it("answers the router's own errors in Anthropic's shape", async () => {
      await assert.rejects(
        anthropic.messages.create({ model: 'no-such-model', max_tokens: 3, messages: [{ role: 'user', content: 'Hello' }] }),
        (err: unknown) => {
          assert.ok(err instanceof Anthropic.NotFoundError, String(err));
          assert.deepEqual(err.error, { type: 'error', error: { type: 'not_found_error', message: 'The model `no-such-model` does not exist.' } });
          return true;
        },
      );
      const invalid = await post(`${url}/v1/messages/count_tokens`, '{"model":');
      assert.equal(invalid.status, 400);
      assert.equal((JSON.parse(invalid.text) as { type: string; error: { type: string } }).error.type, 'invalid_request_error');
      // Other paths keep OpenAI's shape.
      const openaiShaped = await post(`${url}/v1/chat/completions`, { model: 'no-such-model', messages: [] });
      assert.deepEqual(Object.keys((JSON.parse(openaiShaped.text) as { error: object }).error), ['message', 'type', 'param', 'code']);
    });

    it('counts tokens through /v1/messages/count_tokens', async () => {
      const counted = await anthropic.messages.countTokens({ model: 'assistant', messages: [{ role: 'user', content: 'one two three' }] });
      assert.ok(counted.input_tokens > 3);
      assert.equal((await mockStats(mock)).lastRequest?.path, '/v1/messages/count_tokens');
    });
  });

  describe('compressed upstream answers', () => {
    it('asks for identity on streams, so the hidden usage event never reaches the client', async () => {
      // An upstream that compresses whenever the request allows it.
      fake.handler = (req, res) => {
        const events = [
          'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n',
          'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n',
          'data: [DONE]\n\n',
        ].join('');
        const gzip = /gzip/.test(String(req.headers['accept-encoding'] ?? ''));
        res.writeHead(200, { 'content-type': 'text/event-stream', ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
        res.end(gzip ? gzipSync(events) : events);
      };
      const count = records.length;
      const body = JSON.stringify({ model: 'gz', messages: [{ role: 'user', content: 'x' }], stream: true });
      const res = await rawRequest(url, 'POST /v1/chat/completions HTTP/1.1\nhost: x\ncontent-type: application/json\naccept-encoding: gzip, br\nconnection: close', body);
      assert.equal(res.status, 200);
      assert.equal(fake.requests.at(-1)?.headers['accept-encoding'], 'identity');
      assert.equal(res.headers['content-encoding'], undefined);
      const data = sseData(res.text);
      assert.equal(data.at(-1), '[DONE]');
      assert.ok(!data.some((event) => event.includes('"usage"')), 'the usage event the router asked for stays hidden');
      const record = await lastRecord(count);
      assert.deepEqual(record.outcome?.usage, { promptTokens: 3, completionTokens: 1, totalTokens: 4 });
    });

    it('leaves a non-streamed request its Accept-Encoding', async () => {
      fake.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}');
      };
      const res = await post(`${url}/v1/chat/completions`, { model: 'gz', messages: [{ role: 'user', content: 'x' }] }, { 'accept-encoding': 'gzip' });
      assert.equal(res.status, 200);
      assert.equal(fake.requests.at(-1)?.headers['accept-encoding'], 'gzip');
    });
  });
});
