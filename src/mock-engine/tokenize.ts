// POST /tokenize as vLLM serves it: {model?, prompt, add_special_tokens?} or {model?, messages,
// add_generation_prompt?, …} → {count, max_model_len, tokens, token_strs}. The ids are those of the mock's own
// tokenizer (text.ts): the same tokens the simulator caches and its KV events carry, so a router that tokenizes here
// hashes exactly what the engine holds.
import type { ServerResponse } from 'node:http';
import { HttpError, sendJson } from './http-io.ts';
import type { MockTokenizer } from './hf-tokenizer.ts';
import type { ModelRegistry } from './models.ts';
import { summarizeChatMessages, summarizeCompletionPrompt, type PromptSummary } from './text.ts';

const ID_TOKEN = /^<(\d+)>$/;

/** The id of one mock token: a token given as an id (`<123>`) keeps it, a word gets a stable 31-bit hash (FNV-1a). */
export function tokenIdOf(token: string): number {
  const given = ID_TOKEN.exec(token);
  if (given !== null) return Number(given[1]);
  let hash = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193);
  return (hash >>> 0) & 0x7fffffff;
}

/** A request's prompt tokens: the real tokenizer's when the mock has one, else the word tokenizer's (text.ts). */
export function summarizePrompt(kind: 'chat' | 'completion', body: Record<string, unknown>, tokenizer: MockTokenizer | null): PromptSummary {
  if (kind === 'chat') return tokenizer !== null ? tokenizer.chat(body.messages, body.add_generation_prompt !== false, body.tools) : summarizeChatMessages(body.messages, body.tools);
  return tokenizer?.completion(body.prompt) ?? summarizeCompletionPrompt(body.prompt);
}

export function handleTokenize(models: ModelRegistry, maxModelLen: number, tokenizer: MockTokenizer | null, res: ServerResponse, body: Record<string, unknown>): void {
  if (typeof body.model === 'string' && !models.serves(body.model)) throw new HttpError(404, `The model \`${body.model}\` does not exist.`);
  const summary = summarizePrompt(body.messages !== undefined ? 'chat' : 'completion', body, tokenizer);
  const tokens = summary.tokens.map(tokenIdOf);
  sendJson(res, 200, { count: tokens.length, max_model_len: maxModelLen, tokens, token_strs: null });
}
