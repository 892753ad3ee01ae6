import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EngineTokenizer } from './engine-tokenizer.ts';
import { promptInput } from './prompt-input.ts';

describe('EngineTokenizer: the engine\'s POST /tokenize, bounded', () => {
  let server: Server;
  let base: string;
  const seen: Record<string, unknown>[] = [];
  const calls = new Map<string, number>();

  before(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        const route = req.url ?? '';
        calls.set(route, (calls.get(route) ?? 0) + 1);
        if (route.startsWith('/missing')) return void res.writeHead(404).end('{"detail":"Not Found"}');
        if (route.startsWith('/adapters') && text.includes('"unloaded"')) {
          return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"object":"error","message":"The model `unloaded` does not exist.","type":"NotFoundError","param":null,"code":404}');
        }
        if (route.startsWith('/slow')) return; // never answers
        const body = JSON.parse(text) as Record<string, unknown>;
        seen.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 3, max_model_len: 100, tokens: [1, 2, 3] }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("sends Kthena's bodies: completions with special tokens, chats with the generation prompt (not for SGLang)", async () => {
    const tokenizer = new EngineTokenizer({ timeoutMs: 2000, maxInFlight: 4 });
    const messages = [{ role: 'user', content: 'hi' }];
    assert.deepEqual(await tokenizer.tokenize(base, 'm', promptInput({ prompt: 'hello' }, 100)!, 'vllm'), { ok: true, ids: [1, 2, 3] });
    await tokenizer.tokenize(base, 'm', promptInput({ messages }, 100)!, 'vllm');
    await tokenizer.tokenize(base, 'm', promptInput({ messages }, 100)!, 'sglang');
    assert.deepEqual(seen, [
      { model: 'm', prompt: 'hello', add_special_tokens: true },
      { model: 'm', messages, add_special_tokens: false, add_generation_prompt: true },
      { model: 'm', messages, add_special_tokens: false },
    ]);
    assert.deepEqual(await tokenizer.tokenize(base, 'm', promptInput({ prompt: [7, 8] }, 100)!, 'vllm'), { ok: true, ids: [7, 8] }, 'token ids need no call');
    // The chat template renders a chat's tools into the prompt: they go along.
    const tools = [{ type: 'function', function: { name: 'f', parameters: {} } }];
    await tokenizer.tokenize(base, 'm', promptInput({ messages, tools }, 100)!, 'vllm');
    assert.deepEqual(seen.at(-1), { model: 'm', messages, add_special_tokens: false, add_generation_prompt: true, tools });
    await tokenizer.close();
  });

  it('gives up after its timeout, and caps the calls in flight', async () => {
    const tokenizer = new EngineTokenizer({ timeoutMs: 200, maxInFlight: 1 });
    const input = promptInput({ prompt: 'x' }, 100)!;
    const slow = tokenizer.tokenize(`${base}/slow`, 'm', input, 'vllm');
    const refused = await tokenizer.tokenize(base, 'm', input, 'vllm');
    assert.deepEqual(refused, { ok: false, reason: 'too many tokenize calls in flight' });
    const timedOut = await slow;
    assert.equal(timedOut.ok, false);
    assert.match(timedOut.ok ? '' : timedOut.reason, /POST \/tokenize failed/);
    await tokenizer.close();
  });

  it('leaves an engine that does not serve /tokenize alone', async () => {
    const tokenizer = new EngineTokenizer({ timeoutMs: 2000, maxInFlight: 4 });
    const input = promptInput({ prompt: 'x' }, 100)!;
    assert.deepEqual(await tokenizer.tokenize(`${base}/missing`, 'm', input, 'vllm'), { ok: false, reason: 'POST /tokenize answered 404' });
    const again = await tokenizer.tokenize(`${base}/missing`, 'm', input, 'vllm');
    assert.equal(again.ok, false);
    assert.equal(calls.get('/missing/tokenize'), 1, 'not asked a second time');
    await tokenizer.close();
  });

  it('keeps asking an engine that answered 404 about the model (an adapter it has not loaded), not about the path', async () => {
    const tokenizer = new EngineTokenizer({ timeoutMs: 2000, maxInFlight: 4 });
    const input = promptInput({ prompt: 'x' }, 100)!;
    assert.deepEqual(await tokenizer.tokenize(`${base}/adapters`, 'unloaded', input, 'vllm'), { ok: false, reason: 'POST /tokenize answered 404' });
    assert.deepEqual(await tokenizer.tokenize(`${base}/adapters`, 'm', input, 'vllm'), { ok: true, ids: [1, 2, 3] }, 'the base model is tokenized there');
    await tokenizer.close();
  });

  it('cuts long completion prompts and reads batches and token ids as the engine does', () => {
    assert.deepEqual(promptInput({ prompt: 'abcdef' }, 4), { kind: 'text', text: 'abcd', truncated: true });
    assert.deepEqual(promptInput({ prompt: ['first', 'second'] }, 100), { kind: 'text', text: 'first', truncated: false });
    assert.deepEqual(promptInput({ prompt: [[5, 6], [7]] }, 100), { kind: 'ids', ids: [5, 6] });
    assert.equal(promptInput({ prompt: '' }, 100), null);
    assert.equal(promptInput({ input: 'embeddings' }, 100), null);
    const messages = [{ role: 'user', content: 'hi' }];
    assert.deepEqual(promptInput({ messages, tools: [] }, 100), { kind: 'chat', messages }, 'no tools');
    assert.deepEqual(promptInput({ system: 'Be brief.', messages, tools: [{ name: 'anthropic' }] }, 100, '/v1/messages'), {
      kind: 'chat',
      messages: [{ role: 'system', content: 'Be brief.' }, ...messages],
    }, 'the Messages API: its system first, its (Anthropic) tools left out');
    assert.deepEqual(promptInput({ instructions: 'Be brief.', input: 'hi' }, 100, '/v1/responses'), {
      kind: 'chat',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }],
    });
    assert.deepEqual(promptInput({ input: [{ role: 'user', content: 'hi' }, { type: 'message', role: 'assistant', content: 'ok' }] }, 100, '/v1/responses'), {
      kind: 'chat',
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'ok' }],
    });
    assert.equal(promptInput({ input: [{ type: 'function_call_output', call_id: 'c', output: 'x' }] }, 100, '/v1/responses'), null, 'not a plain chat');
  });
});
