// POST /v1/completions and POST /v1/chat/completions: validate, generate on the engine's clock, answer as vLLM does.
import { performance } from 'node:perf_hooks';
import type { ServerResponse } from 'node:http';
import type { GenerationJob, TokenGenerator } from './generator.ts';
import { HttpError, sendJson } from './http-io.ts';
import type { EngineMetrics, FinishReason } from './metrics.ts';
import type { ModelRegistry } from './models.ts';
import {
  chatResponse,
  chatRoleChunk,
  completionResponse,
  newResponseIdentity,
  tokenChunk,
  usageChunk,
  usageOf,
  type GenerationKind,
  type ResponseIdentity,
  type StopReason,
} from './openai-format.ts';
import type { MockTokenizer } from './hf-tokenizer.ts';
import type { MockKvEventPublisher } from './kv-events.ts';
import { summarizePrompt } from './tokenize.ts';
import type { ResolvedMockEngineOptions } from './options.ts';
import { SseStream } from './sse.ts';
import type { PdRole } from './pd-role.ts';
import type { TrackedRequest } from './test-hooks.ts';
import { planAnswer, type PromptSummary } from './text.ts';
import { pause } from './token-loop.ts';

/** What request handlers share about the engine they belong to. */
export interface EngineContext {
  options: ResolvedMockEngineOptions;
  models: ModelRegistry;
  metrics: EngineMetrics;
  /** Times the tokens (fixed delays or the batch simulator) and knows the engine's load. */
  generator: TokenGenerator;
  /** The part played in a disaggregated deployment (--role), if any. */
  pd?: PdRole;
  /** The KV event publisher (kvEventsPort), if any. */
  kvEvents?: MockKvEventPublisher | null;
  /** A real tokenizer (option `tokenizer`), if any; else the mock's word tokenizer. */
  tokenizer?: MockTokenizer | null;
}

interface GenerationRequest {
  kind: GenerationKind;
  model: string;
  stream: boolean;
  includeUsage: boolean;
  /** `requested`: the request set it (else it is the maxTokens option). */
  maxTokens: { value: number; requested: boolean };
  /** `n`: choices in the answer, each the same answer (vLLM samples each; the mock's answers are deterministic). */
  choices: number;
  prompt: PromptSummary;
}

/** The requested model must be the served name or a loaded adapter; returns it. Shared with embeddings. */
export function requireServedModel(body: Record<string, unknown>, models: ModelRegistry): string {
  const model = body.model;
  if (typeof model !== 'string' || model === '') throw new HttpError(400, 'The `model` field is required and must be a non-empty string.');
  if (!models.serves(model)) throw new HttpError(404, `The model \`${model}\` does not exist.`, 'NotFoundError');
  return model;
}

function parseMaxTokens(body: Record<string, unknown>, fallback: number): { value: number; requested: boolean } {
  // Chat prefers the newer max_completion_tokens, as vLLM does; completions only know max_tokens.
  for (const key of ['max_completion_tokens', 'max_tokens']) {
    const value = body[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new HttpError(400, `\`${key}\` must be an integer.`);
    if (value < 1) throw new HttpError(400, `${key} must be at least 1, got ${value}.`);
    // vLLM's SamplingParams check (SGLang checks min_new_tokens the same way).
    const min = body.min_tokens;
    if (typeof min === 'number' && min > value) throw new HttpError(400, `min_tokens must be less than or equal to max_tokens=${value}, got ${min}.`);
    return { value, requested: true };
  }
  return { value: fallback, requested: false };
}

function parseChoices(body: Record<string, unknown>): number {
  const n = body.n;
  if (n === undefined || n === null) return 1;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new HttpError(400, '`n` must be an integer.');
  if (n < 1) throw new HttpError(400, `n must be at least 1, got ${n}.`);
  return n;
}

function parseGenerationRequest(kind: GenerationKind, body: Record<string, unknown>, context: EngineContext): GenerationRequest {
  const model = requireServedModel(body, context.models);
  const { stream, stream_options: streamOptions } = body;
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') throw new HttpError(400, '`stream` must be a boolean.');
  const streaming = stream === true;
  let includeUsage = false;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (!streaming) throw new HttpError(400, 'Stream options can only be defined when `stream=True`.');
    if (typeof streamOptions !== 'object' || Array.isArray(streamOptions)) throw new HttpError(400, '`stream_options` must be an object.');
    includeUsage = (streamOptions as { include_usage?: unknown }).include_usage === true;
  }
  const prompt = summarizePrompt(kind, body, context.tokenizer ?? null);
  return { kind, model, stream: streaming, includeUsage, maxTokens: parseMaxTokens(body, context.options.maxTokens), choices: parseChoices(body), prompt };
}

/** Feeds metrics from real timings as tokens leave, and counts them for usage. */
export class GenerationTimer {
  readonly #metrics: EngineMetrics;
  readonly #startedAt = performance.now();
  #lastTokenAt: number | undefined;
  tokensSent = 0;

  constructor(metrics: EngineMetrics, promptTokens: number) {
    this.#metrics = metrics;
    metrics.countPromptTokens(promptTokens);
  }

  /** A token left, in each of `choices` choices (counted as that many generated tokens). */
  tokenSent(choices = 1): void {
    const now = performance.now();
    if (this.#lastTokenAt === undefined) this.#metrics.observeTimeToFirstToken((now - this.#startedAt) / 1000);
    else this.#metrics.observeInterTokenLatency((now - this.#lastTokenAt) / 1000);
    this.#lastTokenAt = now;
    this.tokensSent += choices;
    this.#metrics.countGeneratedTokens(choices);
  }

  finished(reason: FinishReason): void {
    if (reason !== 'abort') this.#metrics.observeRequestLatency((performance.now() - this.#startedAt) / 1000);
    this.#metrics.countFinishedRequest(reason);
  }
}

/** Everything the two answer styles need about one request. */
interface Generation {
  request: GenerationRequest;
  job: GenerationJob;
  identity: ResponseIdentity;
  /** The answer, already cut to max_tokens. */
  tokens: string[];
  stopReason: StopReason;
  timer: GenerationTimer;
  tracked: TrackedRequest;
  res: ServerResponse;
  /** Top-level fields the PD role adds to a non-streamed answer. */
  extraFields: Readonly<Record<string, unknown>> | null;
}

export async function handleGeneration(
  kind: GenerationKind,
  context: EngineContext,
  tracked: TrackedRequest,
  res: ServerResponse,
  body: Record<string, unknown>,
): Promise<void> {
  const request = parseGenerationRequest(kind, body, context);
  // A disaggregated role checks its side of the KV handshake first (and may wait for the other side).
  const pd = context.pd === undefined ? null : await context.pd.admit(kind, body, tracked.signal);
  if (tracked.signal.aborted) return;
  if (pd !== null) for (const [name, value] of Object.entries(pd.headers)) res.setHeader(name, value);
  const { tokens, stopReason } = planAnswer(context.options, request.model, request.prompt, request.maxTokens);
  const adapter = request.model === context.models.servedName ? null : request.model;
  const job: GenerationJob = { prompt: request.prompt.tokens, output: tokens, adapter };
  context.generator.check(job);
  const generation: Generation = {
    request,
    job,
    identity: newResponseIdentity(kind, request.model),
    tokens,
    stopReason,
    timer: new GenerationTimer(context.metrics, request.prompt.promptTokens),
    tracked,
    res,
    extraFields: pd?.fields ?? null,
  };
  const answered = request.stream ? await streamAnswer(generation, context) : await collectAnswer(generation, context);
  generation.timer.finished(answered ? generation.stopReason : 'abort');
}

/** Non-streaming: the whole answer once the last token exists. Returns whether it was sent. */
async function collectAnswer(generation: Generation, context: EngineContext): Promise<boolean> {
  const { request, job, identity, tokens, stopReason, timer, tracked, res, extraFields } = generation;
  await context.generator.generate(job, tracked.signal, () => timer.tokenSent(request.choices));
  if (tracked.signal.aborted) return false;
  if (tracked.fault?.dropAfterChunks !== undefined) {
    tracked.drop(); // a non-streaming answer has no chunks: the connection dies instead of the body
    return false;
  }
  const text = tokens.join('');
  const usage = usageOf(request.prompt.promptTokens, timer.tokensSent);
  const answer = request.kind === 'chat'
    ? chatResponse(identity, text, stopReason, usage, request.choices)
    : completionResponse(identity, text, stopReason, usage, request.choices);
  sendJson(res, 200, extraFields === null ? answer : { ...answer, ...extraFields });
  return true;
}

/** Streaming: one SSE event per token, then the optional usage chunk and [DONE]. Returns whether all of it was sent. */
async function streamAnswer(generation: Generation, context: EngineContext): Promise<boolean> {
  const { request, job, identity, tokens, stopReason, timer, tracked, res } = generation;
  const stream = new SseStream(res, tracked);
  stream.start();
  const lastIndex = tokens.length - 1;
  // The chat role chunk leaves with the first token (as in vLLM), not with the headers, so TTFT stays honest.
  const sendRoleChunk = async (): Promise<boolean> => {
    if (request.kind !== 'chat') return true;
    for (let choice = 0; choice < request.choices; choice++) stream.send(chatRoleChunk(identity, choice));
    return pause(0, tracked.signal);
  };
  await context.generator.generate(job, tracked.signal, async (index) => {
    if (index === 0 && !(await sendRoleChunk())) return;
    if (!stream.open) return; // dropped by a fault: the socket is going away, tokens no longer leave
    // As vLLM streams n choices: each token once per choice, told apart by the choice index.
    for (let choice = 0; choice < request.choices; choice++) {
      stream.send(tokenChunk(request.kind, identity, tokens[index] ?? '', index === lastIndex ? stopReason : null, choice));
    }
    timer.tokenSent(request.choices);
  });
  if (tracked.signal.aborted) return false;
  if (tokens.length === 0) {
    if (!(await sendRoleChunk())) return false;
    // Nothing to say, but the finish reason must arrive.
    for (let choice = 0; choice < request.choices; choice++) stream.send(tokenChunk(request.kind, identity, '', stopReason, choice));
  }
  if (request.includeUsage) {
    if (!(await pause(0, tracked.signal))) return false;
    stream.send(usageChunk(request.kind, identity, usageOf(request.prompt.promptTokens, timer.tokensSent)));
  }
  if (!(await pause(0, tracked.signal))) return false;
  stream.send('[DONE]');
  stream.end();
  return res.writableEnded;
}
