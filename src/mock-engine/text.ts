// The mock's approximate tokenizer and the text it answers with.
// A "token" is a whitespace-separated word with its leading whitespace, so joining tokens gives the text back.
// Token ids in a prompt are tokens of their own; a chat message is 4 template tokens around its content words.
import { createHash } from 'node:crypto';
import { HttpError, isRecord } from './http-io.ts';
import type { ResponseMode } from './options.ts';

const WORD_WITH_LEADING_SPACE = /\s*\S+/g;

export function splitIntoTokens(text: string): string[] {
  return text.match(WORD_WITH_LEADING_SPACE) ?? [];
}

export function countTokens(text: string): number {
  return splitIntoTokens(text).length;
}

/** Chat templates add a few tokens per message (role markers): here 4, ChatML-like, around the content words. */
function chatMessageTokens(role: string, content: string): string[] {
  return ['<|im_start|>', role, '\n', ...splitIntoTokens(content), '<|im_end|>'];
}

/** What the generator needs from a prompt: its tokens (the simulator's prefix cache hashes them), and what echo mode repeats. */
export interface PromptSummary {
  promptTokens: number;
  /** `promptTokens` token texts, in order. */
  tokens: string[];
  echoText: string;
}

function textPrompt(text: string): PromptSummary {
  const tokens = splitIntoTokens(text);
  return { promptTokens: tokens.length, tokens, echoText: text };
}

function idPrompt(ids: number[]): PromptSummary {
  return { promptTokens: ids.length, tokens: ids.map((id) => `<${id}>`), echoText: ids.join(' ') };
}

function isTokenIdList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'number' && Number.isInteger(item));
}

/**
 * `prompt` of /v1/completions: a string, a list of strings, a list of token ids, or a list of such lists.
 * Lists are counted in full; echo mode repeats them joined (token ids as numbers, since the mock has no vocabulary).
 */
export function summarizeCompletionPrompt(prompt: unknown): PromptSummary {
  if (typeof prompt === 'string') return textPrompt(prompt);
  if (isTokenIdList(prompt) && prompt.length > 0) return idPrompt(prompt);
  if (Array.isArray(prompt) && prompt.length > 0) {
    const parts = prompt.map((item: unknown) => {
      if (typeof item === 'string') return textPrompt(item);
      if (isTokenIdList(item)) return idPrompt(item);
      throw new HttpError(400, '`prompt` must be a string, a list of strings, or a list of token ids.');
    });
    const tokens = parts.flatMap((part) => part.tokens);
    return { promptTokens: tokens.length, tokens, echoText: parts.map((part) => part.echoText).join('\n') };
  }
  throw new HttpError(400, '`prompt` must be a string, a list of strings, or a list of token ids.');
}

/** Text of a chat message content: a string, null, or a list of parts of which only text parts count. */
function chatContentText(content: unknown): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .filter((part): part is { type: 'text'; text: string } => isRecord(part) && part.type === 'text' && typeof part.text === 'string')
      .map((part) => part.text)
      .join('\n');
  }
  throw new HttpError(400, 'A message `content` must be a string, null, or a list of content parts.');
}

/** `messages` of /v1/chat/completions. Echo mode repeats the last user message. */
export function summarizeChatMessages(messages: unknown, tools?: unknown): PromptSummary {
  if (!Array.isArray(messages) || messages.length === 0) throw new HttpError(400, '`messages` must be a non-empty list.');
  const tokens: string[] = [];
  // Chat templates render the tool definitions into the prompt, ahead of the conversation (Qwen, Llama 3.1, Hermes).
  if (Array.isArray(tools) && tools.length > 0) tokens.push(...chatMessageTokens('tools', JSON.stringify(tools)));
  let echoText = '';
  for (const message of messages) {
    if (!isRecord(message) || typeof message.role !== 'string') {
      throw new HttpError(400, 'Each message must be an object with a string `role`.');
    }
    const text = chatContentText(message.content);
    tokens.push(...chatMessageTokens(message.role, text));
    if (message.role === 'user') echoText = text;
  }
  return { promptTokens: tokens.length, tokens, echoText };
}

/** The full answer of fixed and echo modes before the max_tokens cut, split into tokens. */
export function answerTokens(mode: 'echo' | 'fixed', requestedModel: string, echoText: string): string[] {
  const text = mode === 'echo' ? echoText : `This is simulated message from ${requestedModel}!`;
  return splitIntoTokens(text);
}

export interface AnswerPlan {
  tokens: string[];
  stopReason: 'stop' | 'length';
}

/** What the answer of a request is: its tokens, already cut to max_tokens, and why it ends. */
export function planAnswer(
  options: { mode: ResponseMode; seed: number },
  requestedModel: string,
  prompt: PromptSummary,
  maxTokens: { value: number; requested: boolean },
): AnswerPlan {
  if (options.mode === 'random') {
    const random = seededRandom(options.seed, JSON.stringify([requestedModel, prompt.tokens]));
    // With max_tokens set the answer fills it (as benchmarks ask with ignore_eos); else it "stops" at a random length.
    const length = maxTokens.requested ? maxTokens.value : 1 + Math.floor(random() * maxTokens.value);
    const tokens = Array.from({ length }, (_, index) => `${index === 0 ? '' : ' '}${RANDOM_WORDS[Math.floor(random() * RANDOM_WORDS.length)]}`);
    return { tokens, stopReason: maxTokens.requested ? 'length' : 'stop' };
  }
  const full = answerTokens(options.mode, requestedModel, prompt.echoText);
  const tokens = full.slice(0, maxTokens.value);
  return { tokens, stopReason: full.length > tokens.length ? 'length' : 'stop' };
}

const RANDOM_WORDS = (
  'the a of to and in is for on that with as at by from it this be are was router engine token cache prefix batch ' +
  'model request latency block queue adapter decode prefill stream answer'
).split(' ');

/** mulberry32 seeded with a hash of (seed, key): the same request gets the same answer from every engine with that seed. */
export function seededRandom(seed: number, key: string): () => number {
  let state = createHash('sha256').update(`${seed}\u0000${key}`).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
