import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { LocalTokenizers } from './local-tokenizers.ts';

const TOKENIZER = fileURLToPath(new URL('../../test/fixtures/tokenizer/tokenizer.json', import.meta.url));

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), what);
}

/** Loaded (in the background), with prompts over 10 characters going to the worker thread. */
async function loaded(): Promise<LocalTokenizers> {
  const tokenizers = new LocalTokenizers([{ model: 'm', path: TOKENIZER }], 10, 1 << 20, (message) => assert.fail(message));
  await waitUntil(() => tokenizers.tokenize('ns/s', ['m'], { kind: 'text', text: 'hi', truncated: false }, 'vllm') !== null, 'the tokenizer loaded');
  return tokenizers;
}

describe('LocalTokenizers: worker threads', () => {
  it('a retired tokenizer ends its worker thread (a router-config reload left one running, holding a whole tokenizer)', async () => {
    const tokenizers = await loaded();
    const ids = await tokenizers.tokenize('ns/s', ['m'], { kind: 'text', text: 'a long prompt for the worker', truncated: false }, 'vllm');
    assert.ok(Array.isArray(ids) && ids.length > 0);
    assert.equal(tokenizers.workerThreads, 1);
    tokenizers.retire();
    await waitUntil(() => tokenizers.workerThreads === 0, 'the worker thread ended');
    assert.equal(await tokenizers.tokenize('ns/s', ['m'], { kind: 'text', text: 'another long prompt', truncated: false }, 'vllm'), null, 'no new worker once retired');
    assert.equal(tokenizers.workerThreads, 0);
  });

  it('a tokenizer retired while its worker is busy answers that prompt first', async () => {
    const tokenizers = await loaded();
    const pending = tokenizers.tokenize('ns/s', ['m'], { kind: 'text', text: 'a long prompt for the worker', truncated: false }, 'vllm');
    assert.ok(pending instanceof Promise);
    tokenizers.retire();
    const ids = await pending;
    assert.ok(Array.isArray(ids) && ids.length > 0, 'the prompt in flight was tokenized');
    await waitUntil(() => tokenizers.workerThreads === 0, 'the worker thread ended');
  });
});
