import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderPrompt } from '../scheduling/framework/prompt.ts';
import { estimateInputTokens, requestTokens, runeCount } from './token-estimate.ts';

describe('input token estimate (Kthena: ceil(runes / 4) of the prompt)', () => {
  it('counts runes, not UTF-16 code units', () => {
    assert.equal(runeCount('abc'), 3);
    assert.equal(runeCount('héllo'), 5);
    assert.equal(runeCount('😀😀'), 2);
    assert.equal(runeCount('\ud800'), 1, 'a lone surrogate is one rune');
  });

  it('estimates completions prompts', () => {
    assert.equal(estimateInputTokens({ prompt: 'abcdefghij' }), 3);
    assert.equal(estimateInputTokens({ prompt: '😀😀😀😀😀' }), 2);
    assert.equal(estimateInputTokens({ prompt: '' }), 0);
    assert.equal(estimateInputTokens({ prompt: [[1, 2, 3]] }), 3, 'token ids count one each');
    assert.equal(estimateInputTokens(null), 0);
  });

  it('estimates chat as its ChatML rendering, the same text prefix-cache hashes', () => {
    const body = { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'look ' }, { type: 'text', text: 'here' }] }] };
    assert.equal(estimateInputTokens(body), Math.ceil(renderPrompt(body, 1e6).length / 4));
    const withSystem = { system: 'sys', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal(estimateInputTokens(withSystem), Math.ceil('<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n'.length / 4));
  });

  it('estimates the Responses API input, with instructions as a developer message', () => {
    assert.equal(estimateInputTokens({ input: 'hello', instructions: 'be nice' }), Math.ceil('<|im_start|>developer\nbe nice<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n'.length / 4));
  });

  it('estimates embeddings inputs given as lists: of strings, of token ids, of lists of token ids', () => {
    assert.equal(estimateInputTokens({ model: 'e', input: ['a'.repeat(4000), 'b'.repeat(4000)] }), 2000);
    assert.equal(estimateInputTokens({ model: 'e', input: Array.from({ length: 300 }, (_, i) => i) }), 300);
    assert.equal(estimateInputTokens({ model: 'e', input: [[1, 2, 3], [4, 5]] }), 5);
  });

  it("prefers the upstream's reported prompt_tokens, and falls back to the estimate", () => {
    assert.deepEqual(requestTokens({ promptTokens: 7, completionTokens: 5 }, { prompt: 'abcdefghij' }), { input: 7, output: 5, inputSource: 'usage' });
    assert.deepEqual(requestTokens({ promptTokens: 0, completionTokens: 5 }, { prompt: 'abcdefghij' }), { input: 3, output: 5, inputSource: 'estimate' });
    assert.deepEqual(requestTokens(null, { prompt: 'abcdefghij' }), { input: 3, output: 0, inputSource: 'estimate' });
    assert.deepEqual(requestTokens(null, null), { input: 0, output: 0, inputSource: 'none' });
  });
});
