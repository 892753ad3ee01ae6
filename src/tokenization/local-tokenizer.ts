// In-process tokenization from a model's own files: its tokenizer.json (Hugging Face's format, read by
// @huggingface/tokenizers) and the chat template of its tokenizer_config.json (Jinja, rendered by
// @huggingface/jinja), the way vLLM prepares a request: completions are encoded with special tokens, chats are
// rendered with add_generation_prompt (not for SGLang, as Kthena asks it) and encoded without them.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Template } from '@huggingface/jinja';
import * as tokenizers from '@huggingface/tokenizers';

/** The part of @huggingface/tokenizers' Tokenizer used here (its bundled types do not resolve under NodeNext). */
interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
}
const Tokenizer = (tokenizers as unknown as { Tokenizer: new (json: object, config: object) => HfTokenizer }).Tokenizer;

export interface LocalTokenizerFiles {
  /** tokenizer.json */
  readonly path: string;
  /** tokenizer_config.json; default: next to tokenizer.json (absent file: no chat template, no special tokens). */
  readonly config?: string | null;
  /** A Jinja chat template file, overriding the config's chat_template. */
  readonly chatTemplate?: string | null;
}

export type ChatEngine = 'vllm' | 'sglang';

/** Tokens dropped from the end of a prompt cut short: the cut may split a word or a special token. */
export const TRUNCATION_SLACK = 16;

export class LocalTokenizer {
  readonly #tokenizer: HfTokenizer;
  readonly #template: Template | null;
  readonly #specials: Record<string, unknown>;

  private constructor(tokenizer: HfTokenizer, template: Template | null, specials: Record<string, unknown>) {
    this.#tokenizer = tokenizer;
    this.#template = template;
    this.#specials = specials;
  }

  static async load(files: LocalTokenizerFiles): Promise<LocalTokenizer> {
    const tokenizerJson = JSON.parse(await readFile(files.path, 'utf8')) as object;
    const configPath = files.config ?? join(dirname(files.path), 'tokenizer_config.json');
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      if (files.config !== undefined && files.config !== null) throw err;
    }
    let source = typeof config.chat_template === 'string' ? config.chat_template : null;
    if (files.chatTemplate !== undefined && files.chatTemplate !== null) source = await readFile(files.chatTemplate, 'utf8');
    const specials: Record<string, unknown> = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) specials[key] = tokenText(config[key]);
    return new LocalTokenizer(new Tokenizer(tokenizerJson, config), source === null ? null : new Template(source), specials);
  }

  /** A completion prompt's ids, special tokens added as the engine does. */
  encodeText(text: string): number[] {
    return this.#tokenizer.encode(text, { add_special_tokens: true }).ids;
  }

  /**
   * A chat's ids: the rendered template, encoded without adding special tokens again. Throws without a template.
   * With `maxChars`, only the rendered text's first maxChars characters are encoded and the tokens the cut may have
   * changed are dropped (TRUNCATION_SLACK): enough for the blocks a router matches, at a bounded cost.
   */
  encodeChat(messages: readonly unknown[], engine: ChatEngine, maxChars = Infinity, tools?: readonly unknown[]): number[] {
    if (this.#template === null) throw new Error('the tokenizer has no chat template');
    const text = this.#template.render({ messages, add_generation_prompt: engine === 'vllm', ...this.#specials, ...(tools !== undefined && { tools }) });
    if (text.length <= maxChars) return this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
    return this.#tokenizer.encode(text.slice(0, maxChars), { add_special_tokens: false }).ids.slice(0, -TRUNCATION_SLACK);
  }
}

function tokenText(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'content' in value) return (value).content;
  return value ?? '';
}
