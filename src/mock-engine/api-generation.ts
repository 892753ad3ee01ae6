// What the Responses and Messages endpoints share with chat: their input becomes chat-style messages (counted and
// echoed like chat), the answer is planned and timed on the engine's clock like any generation.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { EngineContext } from './inference.ts';
import { GenerationTimer, requireServedModel } from './inference.ts';
import { HttpError, isRecord } from './http-io.ts';
import type { GenerationJob } from './generator.ts';
import type { TrackedRequest } from './test-hooks.ts';
import { planAnswer, summarizeChatMessages, type PromptSummary } from './text.ts';
import type { StopReason } from './openai-format.ts';

export interface ChatStyleMessage {
  role: string;
  content: string;
}

/** One planned answer of the Responses or Messages API. */
export interface ApiGeneration {
  readonly model: string;
  readonly stream: boolean;
  readonly prompt: PromptSummary;
  /** The answer's tokens, already cut to the token limit. */
  readonly tokens: string[];
  readonly stopReason: StopReason;
  readonly job: GenerationJob;
  readonly timer: GenerationTimer;
}

/** Text of a content given as a string or a list of parts with `text` (input_text, output_text, text blocks). */
export function contentText(content: unknown, field: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .filter((part): part is { text: string } => isRecord(part) && typeof part.text === 'string')
      .map((part) => part.text)
      .join('\n');
  }
  throw new HttpError(400, `\`${field}\` must be a string or a list of content parts.`);
}

export function parseStream(body: Record<string, unknown>): boolean {
  const { stream } = body;
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') throw new HttpError(400, '`stream` must be a boolean.');
  return stream === true;
}

/** An optional positive integer limit (max_output_tokens, max_tokens). */
export function parseLimit(body: Record<string, unknown>, key: string, fallback: number, required: boolean): { value: number; requested: boolean } {
  const value = body[key];
  if (value === undefined || value === null) {
    if (required) throw new HttpError(400, `\`${key}\` is required.`);
    return { value: fallback, requested: false };
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new HttpError(400, `\`${key}\` must be an integer.`);
  if (value < 1) throw new HttpError(400, `${key} must be at least 1, got ${value}.`);
  return { value, requested: true };
}

/** Plans the answer to `messages` and registers it with the engine (may refuse: prompt too long). */
export function planGeneration(
  context: EngineContext,
  body: Record<string, unknown>,
  messages: ChatStyleMessage[],
  maxTokens: { value: number; requested: boolean },
): ApiGeneration {
  const model = requireServedModel(body, context.models);
  const stream = parseStream(body);
  const prompt = summarizeChatMessages(messages);
  const { tokens, stopReason } = planAnswer(context.options, model, prompt, maxTokens);
  const adapter = model === context.models.servedName ? null : model;
  const job: GenerationJob = { prompt: prompt.tokens, output: tokens, adapter };
  context.generator.check(job);
  return { model, stream, prompt, tokens, stopReason, job, timer: new GenerationTimer(context.metrics, prompt.promptTokens) };
}

/** Runs a non-streamed generation to its end; false when the client left or a fault dropped the connection. */
export async function generateWhole(generation: ApiGeneration, context: EngineContext, tracked: TrackedRequest): Promise<boolean> {
  await context.generator.generate(generation.job, tracked.signal, () => generation.timer.tokenSent());
  if (tracked.signal.aborted) return false;
  if (tracked.fault?.dropAfterChunks !== undefined) {
    tracked.drop();
    return false;
  }
  return true;
}

export function finishGeneration(generation: ApiGeneration, answered: boolean, res: ServerResponse): void {
  generation.timer.finished(answered && !res.destroyed ? generation.stopReason : 'abort');
}

export function hexId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
