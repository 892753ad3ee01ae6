// LangChain's chat models against the router in front of mock vLLM pods, as a user of the demo would call them:
// ChatOpenAI over Chat Completions and over the Responses API (`useResponsesApi`), ChatAnthropic over the Messages
// API, each streamed and not, with LangChain's usage metadata filled from the answers the router passed through.
import { ChatAnthropic } from '@langchain/anthropic';
import type { AIMessageChunk } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { RequestRecord } from '../../src/server/inference-handler.ts';
import { createEnv, mockStats, modelServer, podStub, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';

const BASE = 'org/base-model';
const ANSWER = `This is simulated message from ${BASE}!`;

describe('LangChain clients', () => {
  let env: TestEnv;
  let mock: MockEngineHandle;
  let url: string;
  const records: RequestRecord[] = [];

  before(async () => {
    env = await createEnv();
    mock = await startMock(env, { model: BASE });
    await writeYaml(env, 'config.yaml', [modelServer('base', { model: BASE }), podStub('base-0', 'base', mock.port), simpleRoute('assistant', 'assistant', 'base')]);
    url = (await startRouter(env, { onRequestDone: (record) => records.push(record) })).url;
  });
  after(() => env.cleanup());

  const lastRecord = async (count: number): Promise<RequestRecord> => {
    await waitFor(() => records.length > count, 2000, 'the request record');
    return records[records.length - 1];
  };
  const lastUpstream = async (): Promise<{ path: string; body: Record<string, unknown> }> => {
    const last = (await mockStats(mock)).lastRequest;
    assert.ok(last !== undefined && last !== null, 'the mock engine saw a request');
    return { path: last.path, body: last.body as Record<string, unknown> };
  };
  /** Streams a chat model's answer into one chunk, as LangChain users concatenate them. */
  const streamed = async (stream: AsyncIterable<AIMessageChunk>): Promise<{ text: string; chunk: AIMessageChunk; count: number }> => {
    let whole: AIMessageChunk | undefined;
    let count = 0;
    for await (const chunk of stream) {
      whole = whole === undefined ? chunk : whole.concat(chunk);
      count++;
    }
    assert.ok(whole !== undefined, 'the stream had chunks');
    return { text: whole.text, chunk: whole, count };
  };

  describe('ChatOpenAI (Chat Completions)', () => {
    const chat = () => new ChatOpenAI({ model: 'assistant', apiKey: 'k', maxRetries: 0, configuration: { baseURL: `${url}/v1` } });

    it('answers without a stream, with usage metadata', async () => {
      const count = records.length;
      const message = await chat().invoke('Say hello');
      assert.equal(message.text, ANSWER);
      const upstream = await lastUpstream();
      assert.equal(upstream.path, '/v1/chat/completions');
      assert.equal(upstream.body.model, BASE);
      const usage = message.usage_metadata;
      assert.ok(usage !== undefined, 'usage_metadata');
      assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0);
      const record = await lastRecord(count);
      assert.deepEqual(record.outcome?.usage, { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens });
    });

    it('streams, with usage metadata from the usage chunk the client asked for', async () => {
      const count = records.length;
      const { text, chunk, count: chunks } = await streamed(await chat().stream('Say hello'));
      assert.equal(text, ANSWER);
      assert.ok(chunks > 2, 'more than one chunk: the answer was streamed');
      const upstream = await lastUpstream();
      assert.equal(upstream.body.stream, true);
      assert.deepEqual(upstream.body.stream_options, { include_usage: true }, 'LangChain asks for usage itself');
      const usage = chunk.usage_metadata;
      assert.ok(usage !== undefined, 'usage_metadata');
      assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0);
      const record = await lastRecord(count);
      assert.deepEqual(record.outcome?.usage, { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens });
    });
  });

  describe('ChatOpenAI with useResponsesApi', () => {
    const chat = () => new ChatOpenAI({ model: 'assistant', apiKey: 'k', maxRetries: 0, useResponsesApi: true, configuration: { baseURL: `${url}/v1` } });

    it('answers without a stream through /v1/responses, with usage metadata', async () => {
      const count = records.length;
      const message = await chat().invoke('Say hello');
      assert.equal(message.text, ANSWER);
      const upstream = await lastUpstream();
      assert.equal(upstream.path, '/v1/responses');
      assert.equal(upstream.body.model, BASE);
      const usage = message.usage_metadata;
      assert.ok(usage !== undefined && usage.output_tokens > 0);
      const record = await lastRecord(count);
      assert.deepEqual(record.outcome?.usage, { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens });
    });

    it('streams through /v1/responses, with usage metadata from response.completed', async () => {
      const count = records.length;
      const { text, chunk } = await streamed(await chat().stream('Say hello'));
      assert.equal(text, ANSWER);
      const upstream = await lastUpstream();
      assert.equal(upstream.path, '/v1/responses');
      assert.equal('stream_options' in upstream.body, false, 'the Responses API has no stream_options');
      const usage = chunk.usage_metadata;
      assert.ok(usage !== undefined && usage.output_tokens > 0);
      const record = await lastRecord(count);
      assert.deepEqual(record.outcome?.usage, { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens });
    });
  });

  describe('ChatAnthropic (Messages)', () => {
    const chat = (streaming = false) =>
      new ChatAnthropic({ model: 'assistant', apiKey: 'k', maxRetries: 0, maxTokens: 64, streaming, anthropicApiUrl: url });

    it('answers without a stream, with usage metadata', async () => {
      const count = records.length;
      const message = await chat().invoke('Say hello');
      assert.equal(message.text, ANSWER);
      const upstream = await lastUpstream();
      assert.equal(upstream.path, '/v1/messages');
      assert.equal(upstream.body.model, BASE);
      const usage = message.usage_metadata;
      assert.ok(usage !== undefined && usage.input_tokens > 0 && usage.output_tokens > 0);
      const record = await lastRecord(count);
      assert.equal(record.outcome?.usage?.promptTokens, usage.input_tokens);
      assert.equal(record.outcome?.usage?.completionTokens, usage.output_tokens);
    });

    it('streams, with usage metadata from message_start and message_delta', async () => {
      const count = records.length;
      const { text, chunk, count: chunks } = await streamed(await chat(true).stream('Say hello'));
      assert.equal(text, ANSWER);
      assert.ok(chunks > 2, 'more than one chunk: the answer was streamed');
      const upstream = await lastUpstream();
      assert.equal(upstream.path, '/v1/messages');
      assert.equal(upstream.body.stream, true);
      const usage = chunk.usage_metadata;
      assert.ok(usage !== undefined && usage.input_tokens > 0 && usage.output_tokens > 0);
      const record = await lastRecord(count);
      assert.equal(record.outcome?.usage?.promptTokens, usage.input_tokens);
      assert.equal(record.outcome?.usage?.completionTokens, usage.output_tokens);
    });
  });
});
