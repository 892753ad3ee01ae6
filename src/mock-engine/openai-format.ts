// Response bodies and stream chunks in the exact shapes vLLM's OpenAI-compatible server produces.
import { randomUUID } from 'node:crypto';

export type GenerationKind = 'completion' | 'chat';
export type StopReason = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usageOf(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** What stays the same across all chunks of one answer. */
export interface ResponseIdentity {
  id: string;
  created: number;
  model: string;
}

export function newResponseIdentity(kind: GenerationKind, model: string): ResponseIdentity {
  const prefix = kind === 'chat' ? 'chatcmpl' : 'cmpl';
  return { id: `${prefix}-${randomUUID().replaceAll('-', '')}`, created: Math.floor(Date.now() / 1000), model };
}

/** `choices`: the request's `n`, each choice with the same answer. */
export function completionResponse(identity: ResponseIdentity, text: string, finishReason: StopReason, usage: Usage, choices = 1) {
  return {
    id: identity.id,
    object: 'text_completion',
    created: identity.created,
    model: identity.model,
    choices: Array.from({ length: choices }, (_, index) => ({ index, text, logprobs: null, finish_reason: finishReason })),
    usage,
  };
}

export function chatResponse(identity: ResponseIdentity, content: string, finishReason: StopReason, usage: Usage, choices = 1) {
  return {
    id: identity.id,
    object: 'chat.completion',
    created: identity.created,
    model: identity.model,
    choices: Array.from({ length: choices }, (_, index) => ({ index, message: { role: 'assistant', content }, logprobs: null, finish_reason: finishReason })),
    usage,
  };
}

function chunkEnvelope(kind: GenerationKind, identity: ResponseIdentity) {
  return {
    id: identity.id,
    object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created: identity.created,
    model: identity.model,
  };
}

/** The chat stream's opening chunk announcing the assistant role. */
export function chatRoleChunk(identity: ResponseIdentity, index = 0) {
  return { ...chunkEnvelope('chat', identity), choices: [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] };
}

/** One token of a stream, for the choice `index`; the last one carries the finish reason. */
export function tokenChunk(kind: GenerationKind, identity: ResponseIdentity, token: string, finishReason: StopReason | null, index = 0) {
  const choice =
    kind === 'chat'
      ? { index, delta: { content: token }, logprobs: null, finish_reason: finishReason }
      : { index, text: token, logprobs: null, finish_reason: finishReason };
  return { ...chunkEnvelope(kind, identity), choices: [choice] };
}

/** Sent after the last token when the client asked for stream_options.include_usage. */
export function usageChunk(kind: GenerationKind, identity: ResponseIdentity, usage: Usage) {
  return { ...chunkEnvelope(kind, identity), choices: [], usage };
}
