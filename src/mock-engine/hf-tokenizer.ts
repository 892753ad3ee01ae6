// The mock with a real tokenizer (option `tokenizer`: a tokenizer.json; its tokenizer_config.json next to it gives
// the chat template): prompts become that tokenizer's ids, as vLLM prepares them (completions with special tokens;
// chats rendered with add_generation_prompt, then encoded without), and those ids are what the simulator caches, its
// KV events carry and /tokenize answers. Tests share such a tokenizer with the router.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Template } from '@huggingface/jinja';
import * as tokenizers from '@huggingface/tokenizers';
import { HttpError, isRecord } from './http-io.ts';
import type { PromptSummary } from './text.ts';

interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[]): string;
}
const Tokenizer = (tokenizers as unknown as { Tokenizer: new (json: object, config: object) => HfTokenizer }).Tokenizer;

export class MockTokenizer {
  readonly #tokenizer: HfTokenizer;
  readonly #template: Template | null;

  /** Reads the files synchronously: the mock starts once, before it serves anything. */
  constructor(path: string) {
    const json = JSON.parse(readFileSync(path, 'utf8')) as object;
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(readFileSync(join(dirname(path), 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      // no config: no chat template
    }
    this.#tokenizer = new Tokenizer(json, config);
    this.#template = typeof config.chat_template === 'string' ? new Template(config.chat_template) : null;
  }

  completion(prompt: unknown): PromptSummary | null {
    if (typeof prompt !== 'string') return null; // token ids and batches: as without a tokenizer
    return this.#summary(this.#tokenizer.encode(prompt, { add_special_tokens: true }).ids, prompt);
  }

  chat(messages: unknown, addGenerationPrompt = true, tools?: unknown): PromptSummary {
    if (!Array.isArray(messages) || messages.length === 0) throw new HttpError(400, '`messages` must be a non-empty list.');
    if (this.#template === null) throw new HttpError(400, 'the tokenizer has no chat template');
    const text = this.#template.render({ messages, add_generation_prompt: addGenerationPrompt, ...(Array.isArray(tools) && tools.length > 0 && { tools }) });
    const lastUser = [...(messages as unknown[])].reverse().find((m) => isRecord(m) && m.role === 'user') as { content?: unknown } | undefined;
    return this.#summary(this.#tokenizer.encode(text, { add_special_tokens: false }).ids, typeof lastUser?.content === 'string' ? lastUser.content : '');
  }

  #summary(ids: number[], echoText: string): PromptSummary {
    return { promptTokens: ids.length, tokens: ids.map((id) => `<${id}>`), echoText };
  }
}
