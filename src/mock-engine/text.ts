// The mock's approximate tokenizer and the text it answers with.
// A "token" is a whitespace-separated word with its leading whitespace, so joining tokens gives the text back.
import { HttpError, isRecord } from './http-io.ts';
import type { ResponseMode } from './options.ts';

const WORD_WITH_LEADING_SPACE = /\s*\S+/g;

export function splitIntoTokens(text: string): string[] {
  return text.match(WORD_WITH_LEADING_SPACE) ?? [];
}

export function countTokens(text: string): number {
  return splitIntoTokens(text).length;
}

/** Chat templates add a few tokens per message (role markers); this approximates them. */
const TOKENS_PER_CHAT_MESSAGE = 4;

/** What the generator needs from a prompt: how long it is, and what echo mode repeats. */
export interface PromptSummary {
  promptTokens: number;
  echoText: string;
}

function isTokenIdList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'number' && Number.isInteger(item));
}

/**
 * `prompt` of /v1/completions: a string, a list of strings, a list of token ids, or a list of such lists.
 * Lists are counted in full; echo mode repeats them joined (token ids as numbers, since the mock has no vocabulary).
 */
export function summarizeCompletionPrompt(prompt: unknown): PromptSummary {
  if (typeof prompt === 'string') return { promptTokens: countTokens(prompt), echoText: prompt };
  if (isTokenIdList(prompt) && prompt.length > 0) return { promptTokens: prompt.length, echoText: prompt.join(' ') };
  if (Array.isArray(prompt) && prompt.length > 0) {
    const parts = prompt.map((item: unknown) => {
      if (typeof item === 'string') return { promptTokens: countTokens(item), echoText: item };
      if (isTokenIdList(item)) return { promptTokens: item.length, echoText: item.join(' ') };
      throw new HttpError(400, '`prompt` must be a string, a list of strings, or a list of token ids.');
    });
    return { promptTokens: parts.reduce((sum, part) => sum + part.promptTokens, 0), echoText: parts.map((part) => part.echoText).join('\n') };
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
export function summarizeChatMessages(messages: unknown): PromptSummary {
  if (!Array.isArray(messages) || messages.length === 0) throw new HttpError(400, '`messages` must be a non-empty list.');
  let promptTokens = 0;
  let echoText = '';
  for (const message of messages) {
    if (!isRecord(message) || typeof message.role !== 'string') {
      throw new HttpError(400, 'Each message must be an object with a string `role`.');
    }
    const text = chatContentText(message.content);
    promptTokens += countTokens(text) + TOKENS_PER_CHAT_MESSAGE;
    if (message.role === 'user') echoText = text;
  }
  return { promptTokens, echoText };
}

/** The full answer before the max_tokens cut, split into tokens. */
export function answerTokens(mode: ResponseMode, requestedModel: string, echoText: string): string[] {
  const text = mode === 'echo' ? echoText : `This is simulated message from ${requestedModel}!`;
  return splitIntoTokens(text);
}
