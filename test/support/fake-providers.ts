// Stand-ins for OpenAI's and Anthropic's APIs over HTTPS (a certificate from the test's CA), recording every request
// and answering in the official shapes, streamed or not, with usage. A test may script the next answers.
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProviderRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

export type ScriptedAnswer = (req: ProviderRequest, res: ServerResponse) => void;

export interface FakeProvider {
  readonly url: string;
  readonly port: number;
  readonly requests: ProviderRequest[];
  /** Answers for the next requests, used in order before the default one. */
  readonly script: ScriptedAnswer[];
  close(): Promise<void>;
}

const OUTPUT = ['Hello', ' from', ' the', ' provider'];

function sse(res: ServerResponse, events: readonly { event?: string; data: unknown }[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const e of events) res.write(`${e.event === undefined ? '' : `event: ${e.event}\n`}data: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`);
  res.end();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** OpenAI: chat/completions (usage chunk only when asked, as OpenAI does), completions, responses. */
function answerOpenAI(req: ProviderRequest, res: ServerResponse): void {
  const model = String(req.body.model);
  const stream = req.body.stream === true;
  const usage = { prompt_tokens: 11, completion_tokens: OUTPUT.length, total_tokens: 11 + OUTPUT.length };
  const storedId = /\/responses\/([^/?]+)$/.exec(req.path)?.[1];
  if (req.method === 'GET' && storedId !== undefined) {
    // Retrieve a stored response (the fake stores nothing: it answers every id as the completed one).
    const message = { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: OUTPUT.join(''), annotations: [] }] };
    return json(res, 200, { id: storedId, object: 'response', created_at: 1, status: 'completed', model: 'gpt', output: [message], usage: { input_tokens: 11, output_tokens: OUTPUT.length, total_tokens: 11 + OUTPUT.length } });
  }
  if (req.path.endsWith('/responses')) {
    const response = (status: string, output: unknown[], u: unknown) => ({ id: 'resp_1', object: 'response', created_at: 1, status, model, output, usage: u });
    const message = { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: OUTPUT.join(''), annotations: [] }] };
    const done = response('completed', [message], { input_tokens: 11, output_tokens: OUTPUT.length, total_tokens: 11 + OUTPUT.length });
    if (!stream) return json(res, 200, done);
    return sse(res, [
      { event: 'response.created', data: { type: 'response.created', sequence_number: 0, response: response('in_progress', [], null) } },
      ...OUTPUT.map((delta, i) => ({ event: 'response.output_text.delta', data: { type: 'response.output_text.delta', sequence_number: i + 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta } })),
      { event: 'response.completed', data: { type: 'response.completed', sequence_number: 9, response: done } },
    ]);
  }
  const chat = req.path.endsWith('/chat/completions');
  if (!stream) {
    const choice = chat ? { index: 0, message: { role: 'assistant', content: OUTPUT.join('') }, finish_reason: 'stop' } : { index: 0, text: OUTPUT.join(''), finish_reason: 'stop' };
    return json(res, 200, { id: 'x-1', object: chat ? 'chat.completion' : 'text_completion', created: 1, model, choices: [choice], usage });
  }
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  const events: { data: unknown }[] = OUTPUT.map((word, i) => ({
    data: { id: 'x-1', object, created: 1, model, choices: [chat ? { index: 0, delta: { content: word }, finish_reason: i === OUTPUT.length - 1 ? 'stop' : null } : { index: 0, text: word, finish_reason: null }] },
  }));
  const options = req.body.stream_options as { include_usage?: boolean } | undefined;
  if (options?.include_usage === true) events.push({ data: { id: 'x-1', object, created: 1, model, choices: [], usage } });
  events.push({ data: '[DONE]' });
  sse(res, events);
}

/** Anthropic: /v1/messages, streamed as named events. */
function answerAnthropic(req: ProviderRequest, res: ServerResponse): void {
  const model = String(req.body.model);
  const usage = { input_tokens: 7, cache_creation_input_tokens: 2, cache_read_input_tokens: 3, output_tokens: OUTPUT.length };
  if (req.body.stream !== true) {
    return json(res, 200, { id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: OUTPUT.join('') }], stop_reason: 'end_turn', stop_sequence: null, usage });
  }
  const event = (type: string, fields: object) => ({ event: type, data: { type, ...fields } });
  sse(res, [
    event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...OUTPUT.map((text) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
    event('content_block_stop', { index: 0 }),
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: OUTPUT.length } }),
    event('message_stop', {}),
  ]);
}

export async function startFakeProvider(kind: 'OpenAI' | 'Anthropic', tls: { cert: string; key: string }): Promise<FakeProvider> {
  const requests: ProviderRequest[] = [];
  const script: ScriptedAnswer[] = [];
  const server: Server = createServer(tls, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        // recorded as {}
      }
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      const scripted = script.shift();
      if (scripted !== undefined) scripted(recorded, res);
      else if (kind === 'OpenAI') answerOpenAI(recorded, res);
      else answerAnthropic(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    requests,
    script,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
