// POST /v1/messages and /v1/messages/count_tokens as vLLM serves Anthropic's Messages API: `system` and `messages`
// in (max_tokens required), a `message` object out; streamed as named events message_start (input usage),
// content_block_start, ping, content_block_delta …, content_block_stop, message_delta (output usage), message_stop.
import type { ServerResponse } from 'node:http';
import { contentText, finishGeneration, generateWhole, hexId, parseLimit, planGeneration, type ApiGeneration, type ChatStyleMessage } from './api-generation.ts';
import { HttpError, isRecord, sendJson } from './http-io.ts';
import type { EngineContext } from './inference.ts';
import { requireServedModel } from './inference.ts';
import { SseStream } from './sse.ts';
import type { TrackedRequest } from './test-hooks.ts';
import { summarizeChatMessages } from './text.ts';

function chatMessages(body: Record<string, unknown>): ChatStyleMessage[] {
  const messages: ChatStyleMessage[] = [];
  if (body.system !== undefined && body.system !== null) messages.push({ role: 'system', content: contentText(body.system, 'system') });
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw new HttpError(400, '`messages` must be a non-empty list.');
  for (const message of body.messages) {
    if (!isRecord(message) || (message.role !== 'user' && message.role !== 'assistant')) {
      throw new HttpError(400, 'Each message must be an object with `role` "user" or "assistant".');
    }
    messages.push({ role: message.role, content: contentText(message.content, 'content') });
  }
  return messages;
}

function stopReason(g: ApiGeneration): 'end_turn' | 'max_tokens' {
  return g.stopReason === 'length' ? 'max_tokens' : 'end_turn';
}

export async function handleMessages(context: EngineContext, tracked: TrackedRequest, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
  const generation = planGeneration(context, body, chatMessages(body), parseLimit(body, 'max_tokens', context.options.maxTokens, true));
  const id = hexId('msg');
  let answered: boolean;
  if (generation.stream) {
    answered = await streamMessage(generation, id, context, tracked, res);
  } else {
    answered = await generateWhole(generation, context, tracked);
    if (answered) {
      sendJson(res, 200, {
        id,
        type: 'message',
        role: 'assistant',
        model: generation.model,
        content: [{ type: 'text', text: generation.tokens.join('') }],
        stop_reason: stopReason(generation),
        stop_sequence: null,
        usage: { input_tokens: generation.prompt.promptTokens, output_tokens: generation.timer.tokensSent },
      });
    }
  }
  finishGeneration(generation, answered, res);
}

/** POST /v1/messages/count_tokens: the prompt's token count, nothing generated. */
export function handleCountTokens(context: EngineContext, _tracked: TrackedRequest, res: ServerResponse, body: Record<string, unknown>): void {
  requireServedModel(body, context.models);
  sendJson(res, 200, { input_tokens: summarizeChatMessages(chatMessages(body)).promptTokens });
}

async function streamMessage(g: ApiGeneration, id: string, context: EngineContext, tracked: TrackedRequest, res: ServerResponse): Promise<boolean> {
  const stream = new SseStream(res, tracked);
  const send = (type: string, fields: Record<string, unknown>): void => stream.send({ type, ...fields }, type);
  stream.start();
  send('message_start', {
    message: {
      id, type: 'message', role: 'assistant', model: g.model, content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: g.prompt.promptTokens, output_tokens: 0 },
    },
  });
  send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  send('ping', {});
  await context.generator.generate(g.job, tracked.signal, (index) => {
    if (!stream.open) return;
    send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: g.tokens[index] ?? '' } });
    g.timer.tokenSent();
  });
  if (tracked.signal.aborted || !stream.open) return false;
  send('content_block_stop', { index: 0 });
  send('message_delta', { delta: { stop_reason: stopReason(g), stop_sequence: null }, usage: { output_tokens: g.timer.tokensSent } });
  send('message_stop', {});
  stream.end();
  return res.writableEnded;
}
