// POST /v1/responses as vLLM serves OpenAI's Responses API: `input` (a string or a list of messages) and
// `instructions` in, a `response` object out; streamed as response.created … response.output_text.delta …
// response.completed (response.incomplete when max_output_tokens cut it), usage in the last event's response.
// Responses are stored in this instance's memory unless `store: false` (vLLM with VLLM_ENABLE_RESPONSES_API_STORE):
// a `previous_response_id` this instance did not store is 404, as vLLM answers it. GET /v1/responses/{id} returns a
// stored response; `background: true` answers at once (or streams while its client stays) and generates on (POST
// /v1/responses/{id}/cancel stops it; a response that is not running cannot be cancelled).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { contentText, finishGeneration, generateWhole, hexId, parseLimit, planGeneration, type ApiGeneration, type ChatStyleMessage } from './api-generation.ts';
import { HttpError, isRecord, sendJson } from './http-io.ts';
import type { EngineContext } from './inference.ts';
import { SseStream } from './sse.ts';
import type { TrackedRequest } from './test-hooks.ts';

function inputMessages(body: Record<string, unknown>): ChatStyleMessage[] {
  const messages: ChatStyleMessage[] = [];
  // vLLM renders `instructions` as the chat's system message (construct_input_messages).
  if (body.instructions !== undefined && body.instructions !== null) messages.push({ role: 'system', content: contentText(body.instructions, 'instructions') });
  const input = body.input;
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
  } else if (Array.isArray(input) && input.length > 0) {
    for (const item of input) {
      if (!isRecord(item) || typeof item.role !== 'string') throw new HttpError(400, 'Each `input` item must be a message with a string `role`.');
      messages.push({ role: item.role, content: contentText(item.content, 'content') });
    }
  } else {
    throw new HttpError(400, '`input` must be a string or a non-empty list of messages.');
  }
  return messages;
}

interface ResponseIdentity {
  readonly id: string;
  readonly messageId: string;
  readonly createdAt: number;
}

type ResponseState = 'queued' | 'in_progress' | 'done' | 'cancelled';

function responseObject(g: ApiGeneration, body: Record<string, unknown>, who: ResponseIdentity, state: ResponseState, outputTokens: number) {
  const done = state === 'done';
  const incomplete = done && g.stopReason === 'length';
  const text = g.tokens.join('');
  return {
    id: who.id,
    object: 'response',
    created_at: who.createdAt,
    status: !done ? state : incomplete ? 'incomplete' : 'completed',
    background: body.background === true,
    error: null,
    incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: null,
    model: g.model,
    output: done ? [outputMessage(who, text, 'completed')] : [],
    parallel_tool_calls: true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: null,
    service_tier: 'auto',
    temperature: body.temperature ?? 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    usage: done
      ? {
          input_tokens: g.prompt.promptTokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: outputTokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: g.prompt.promptTokens + outputTokens,
        }
      : null,
    user: null,
  };
}

function outputMessage(who: ResponseIdentity, text: string, status: 'in_progress' | 'completed') {
  const content = status === 'completed' ? [{ type: 'output_text', text, annotations: [], logprobs: [] }] : [];
  return { id: who.messageId, type: 'message', status, role: 'assistant', content };
}

type ResponseObject = ReturnType<typeof responseObject>;

/** Stored responses per engine instance, oldest first. */
const storedResponses = new WeakMap<EngineContext, Map<string, ResponseObject>>();
const MAX_STORED = 10_000;

function stored(context: EngineContext): Map<string, ResponseObject> {
  let responses = storedResponses.get(context);
  if (responses === undefined) storedResponses.set(context, (responses = new Map<string, ResponseObject>()));
  return responses;
}

const STORED_PATH = /^\/v1\/responses\/([^/]+)(\/cancel)?$/;

/**
 * GET /v1/responses/{id} and POST /v1/responses/{id}/cancel as vLLM answers them: the stored response, 404 for an id
 * this instance did not store, and 400 when cancelling one that is not running.
 */
export function handleStoredResponse(context: EngineContext, req: IncomingMessage, res: ServerResponse, path: string): void {
  const match = STORED_PATH.exec(path);
  const cancel = match?.[2] !== undefined;
  if (match === null || req.method !== (cancel ? 'POST' : 'GET')) {
    if (match !== null) res.setHeader('allow', cancel ? 'POST' : 'GET');
    sendJson(res, match === null ? 404 : 405, { detail: match === null ? 'Not Found' : 'Method Not Allowed' });
    return;
  }
  const response = stored(context).get(match[1]);
  if (response === undefined) throw new HttpError(404, `Response with id '${match[1]}' not found.`);
  if (cancel) {
    const running = backgroundRuns.get(response.id);
    if (running === undefined) throw new HttpError(400, 'Cannot cancel a synchronous response.', 'invalid_request_error');
    running.cancel();
    sendJson(res, 200, stored(context).get(response.id));
    return;
  }
  sendJson(res, 200, response);
}

/** Background responses still generating, by id: cancel() stops one and stores it as cancelled. */
const backgroundRuns = new Map<string, { cancel: () => void }>();

/**
 * `background: true` (with `store`): answered at once with the response queued; it generates on, and GET
 * /v1/responses/{id} shows it in progress, then complete with its usage, as vLLM runs it.
 */
function startInBackground(context: EngineContext, g: ApiGeneration, body: Record<string, unknown>, who: ResponseIdentity, tracked: TrackedRequest, res: ServerResponse): void {
  if (body.store === false) throw new HttpError(400, 'background can only be used when `store` is true', 'invalid_request_error');
  const responses = stored(context);
  // Streamed: the events go to the client while it stays; the generation goes on without it (fetched by GET later).
  const stream = g.stream ? new SseStream(res, tracked) : null;
  let sequence = 0;
  const send = (type: string, fields: Record<string, unknown>): void => stream?.send({ type, sequence_number: sequence++, ...fields }, type);
  const part = { item_id: who.messageId, output_index: 0, content_index: 0 };
  const controller = new AbortController();
  responses.set(who.id, responseObject(g, body, who, 'queued', 0));
  backgroundRuns.set(who.id, {
    cancel: () => {
      controller.abort();
      responses.set(who.id, responseObject(g, body, who, 'cancelled', g.timer.tokensSent));
      backgroundRuns.delete(who.id);
    },
  });
  if (stream === null) {
    sendJson(res, 200, responses.get(who.id));
  } else {
    stream.start();
    send('response.created', { response: responses.get(who.id) });
  }
  responses.set(who.id, responseObject(g, body, who, 'in_progress', 0));
  send('response.in_progress', { response: responses.get(who.id) });
  void context.generator.generate(g.job, controller.signal, (index) => {
    send('response.output_text.delta', { ...part, delta: g.tokens[index] ?? '', logprobs: [] });
    g.timer.tokenSent();
  }).then(
    () => {
      if (controller.signal.aborted) return;
      backgroundRuns.delete(who.id);
      const final = responseObject(g, body, who, 'done', g.timer.tokensSent);
      responses.set(who.id, final);
      send(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
      stream?.end();
      g.timer.finished(g.stopReason);
    },
    () => backgroundRuns.delete(who.id),
  );
}

export async function handleResponses(context: EngineContext, tracked: TrackedRequest, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
  const previous = body.previous_response_id;
  if (previous !== undefined && previous !== null) {
    if (typeof previous !== 'string') throw new HttpError(400, '`previous_response_id` must be a string.');
    if (!stored(context).has(previous)) throw new HttpError(404, `Response with id '${previous}' not found.`);
  }
  const messages = inputMessages(body);
  const generation = planGeneration(context, body, messages, parseLimit(body, 'max_output_tokens', context.options.maxTokens, false));
  const who: ResponseIdentity = { id: hexId('resp'), messageId: hexId('msg'), createdAt: Math.floor(Date.now() / 1000) };
  if (body.background === true) {
    startInBackground(context, generation, body, who, tracked, res);
    return;
  }
  let answered: boolean;
  if (generation.stream) {
    answered = await streamResponse(generation, body, who, context, tracked, res);
  } else {
    answered = await generateWhole(generation, context, tracked);
    if (answered) sendJson(res, 200, responseObject(generation, body, who, 'done', generation.timer.tokensSent));
  }
  if (answered && body.store !== false) {
    const responses = stored(context);
    responses.set(who.id, responseObject(generation, body, who, 'done', generation.timer.tokensSent));
    if (responses.size > MAX_STORED) responses.delete(responses.keys().next().value as string);
  }
  finishGeneration(generation, answered, res);
}

async function streamResponse(g: ApiGeneration, body: Record<string, unknown>, who: ResponseIdentity, context: EngineContext, tracked: TrackedRequest, res: ServerResponse): Promise<boolean> {
  const stream = new SseStream(res, tracked);
  let sequence = 0;
  const send = (type: string, fields: Record<string, unknown>): void => stream.send({ type, sequence_number: sequence++, ...fields }, type);
  const part = { item_id: who.messageId, output_index: 0, content_index: 0 };
  stream.start();
  send('response.created', { response: responseObject(g, body, who, 'in_progress', 0) });
  send('response.in_progress', { response: responseObject(g, body, who, 'in_progress', 0) });
  send('response.output_item.added', { output_index: 0, item: outputMessage(who, '', 'in_progress') });
  send('response.content_part.added', { ...part, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
  await context.generator.generate(g.job, tracked.signal, (index) => {
    if (!stream.open) return;
    send('response.output_text.delta', { ...part, delta: g.tokens[index] ?? '', logprobs: [] });
    g.timer.tokenSent();
  });
  if (tracked.signal.aborted || !stream.open) return false;
  const text = g.tokens.join('');
  send('response.output_text.done', { ...part, text, logprobs: [] });
  send('response.content_part.done', { ...part, part: { type: 'output_text', text, annotations: [], logprobs: [] } });
  send('response.output_item.done', { output_index: 0, item: outputMessage(who, text, 'completed') });
  const final = responseObject(g, body, who, 'done', g.timer.tokensSent);
  send(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
  stream.end();
  return res.writableEnded;
}
