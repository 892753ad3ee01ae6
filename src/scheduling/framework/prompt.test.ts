import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeCycle, makeRequest } from './test-support.ts';
import { renderPrompt } from './prompt.ts';

describe('renderPrompt', () => {
  const cases: [string, unknown, string][] = [
    ['a completion prompt', { prompt: 'San Francisco is a' }, 'San Francisco is a'],
    ['the first prompt of a batch', { prompt: ['first', 'second'] }, 'first'],
    ['nothing for token ids', { prompt: [1, 2, 3] }, ''],
    [
      'chat messages as ChatML',
      { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] },
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n',
    ],
    [
      'the text parts of structured content',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'look ' }, { type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'here' }] }] },
      '<|im_start|>user\nlook here<|im_end|>\n',
    ],
    [
      'the Messages API\'s system prompt first, from a string or text blocks',
      { system: [{ type: 'text', text: 'Be ' }, { type: 'text', text: 'brief.' }], messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] },
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n',
    ],
    ['nothing without prompt or messages', { input: 'embed me' }, ''],
    ['nothing for a non-object', 'text', ''],
  ];
  for (const [what, body, expected] of cases) {
    it(`renders ${what}`, () => assert.equal(renderPrompt(body, 10_000), expected));
  }

  it('renders the Responses API\'s instructions and input on its path only', () => {
    assert.equal(renderPrompt({ instructions: 'Be brief.', input: 'Hi' }, 10_000, '/v1/responses'), '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n');
    const items = { input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }, { role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] }] };
    assert.equal(renderPrompt(items, 10_000, '/v1/responses'), '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n');
    assert.equal(renderPrompt({ input: 'embed me' }, 10_000, '/v1/embeddings'), '');
  });

  it('stops at maxChars', () => {
    assert.equal(renderPrompt({ prompt: 'abcdef' }, 3), 'abc');
    const long = { messages: Array.from({ length: 1000 }, () => ({ role: 'user', content: 'x'.repeat(100) })) };
    assert.equal(renderPrompt(long, 50).length, 50);
  });

  it('is computed once per cycle and cut to the length asked', () => {
    const cycle = makeCycle(makeRequest({ body: { prompt: 'abcdefgh' } }));
    assert.equal(cycle.prompt(4), 'abcd');
    assert.equal(cycle.prompt(2), 'ab');
    assert.equal(cycle.prompt(100), 'abcdefgh');
  });
});
