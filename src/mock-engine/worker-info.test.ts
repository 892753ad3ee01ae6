import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postJson, withMockEngine } from './test-support.ts';

interface Tokenized {
  count: number;
  max_model_len: number;
  tokens: number[];
}

describe('worker info endpoints (what routers in front of vLLM / SGLang probe)', () => {
  it('tokenizes a prompt and chat messages; equal prefixes give equal ids', () =>
    withMockEngine({ model: 'org/base', servedModelName: 'base' }, async ({ url }) => {
      const short = (await (await postJson(`${url}/tokenize`, { model: 'base', prompt: 'You are a helpful assistant.' })).json()) as Tokenized;
      const long = (await (await postJson(`${url}/tokenize`, { model: 'base', prompt: 'You are a helpful assistant. Answer briefly.' })).json()) as Tokenized;
      assert.equal(short.count, 5);
      assert.equal(short.max_model_len, 32_768);
      assert.equal(short.tokens.length, 5);
      assert.deepEqual(long.tokens.slice(0, 5), short.tokens);
      assert.notDeepEqual(long.tokens.slice(5), long.tokens.slice(0, 2));
      const chat = (await (await postJson(`${url}/tokenize`, { model: 'base', messages: [{ role: 'user', content: 'hi there' }] })).json()) as Tokenized;
      assert.equal(chat.count, 6); // 4 template tokens around 2 words
    }));

  it('renders chat and completion requests to token ids, as the tokenizer does', () =>
    withMockEngine({ model: 'base' }, async ({ url }) => {
      const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is a router?' }];
      const rendered = (await (await postJson(`${url}/v1/chat/completions/render`, { model: 'base', messages })).json()) as { token_ids: number[] };
      const tokenized = (await (await postJson(`${url}/tokenize`, { model: 'base', messages })).json()) as Tokenized;
      assert.deepEqual(rendered.token_ids, tokenized.tokens);
      const completion = await postJson(`${url}/v1/completions/render`, { model: 'base', prompt: 'one two three' });
      assert.equal(((await completion.json()) as { token_ids: number[] }).token_ids.length, 3);
    }));

  it('answers a bad tokenize body with a 400 error', () =>
    withMockEngine({ model: 'base' }, async ({ url }) => {
      const res = await postJson(`${url}/tokenize`, { model: 'base', prompt: 42 });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { message: string }).message, /prompt/);
    }));

  it('serves SGLang-style model and server info and a version', () =>
    withMockEngine({ model: 'org/base', servedModelName: 'base' }, async ({ url }) => {
      const model = (await (await fetch(`${url}/get_model_info`)).json()) as Record<string, unknown>;
      assert.equal(model.model_path, 'org/base');
      assert.equal(model.is_generation, true);
      const server = (await (await fetch(`${url}/get_server_info`)).json()) as Record<string, unknown>;
      assert.equal(server.served_model_name, 'base');
      assert.deepEqual(await (await fetch(`${url}/server_info`)).json(), server);
      const version = (await (await fetch(`${url}/version`)).json()) as { version: string };
      assert.equal(typeof version.version, 'string');
    }));
});
