import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import OpenAI from 'openai';
import { startMockEngine } from './index.ts';
import { eventually, metricValue, postJson, sseData, stats, withMockEngine } from './test-support.ts';

const LONG_PROMPT = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');

/** Reads a streaming body until the server ends or cuts it; returns the text and whether it was cut. */
async function readUntilEndOrCut(response: Response): Promise<{ text: string; cut: boolean }> {
  const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return { text, cut: false };
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { text, cut: true };
  }
}

describe('/mock/stats', () => {
  it('counts inference requests and records the last one', () =>
    withMockEngine({ model: 'm', instanceName: 'inst-1' }, async (engine) => {
      await fetch(`${engine.url}/health`);
      await fetch(`${engine.url}/metrics`);
      await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' }, { headers: { 'content-type': 'application/json', 'x-trace': 't1' } });
      await postJson(`${engine.url}/v1/chat/completions`, { model: 'nope', messages: [] });
      const snapshot = await stats(engine);
      assert.equal(snapshot.instance, 'inst-1');
      assert.equal(snapshot.received, 2);
      assert.equal(snapshot.completed, 2);
      assert.equal(snapshot.cancelled, 0);
      assert.equal(snapshot.inFlight, 0);
      assert.equal(snapshot.lastRequest?.method, 'POST');
      assert.equal(snapshot.lastRequest?.path, '/v1/chat/completions');
      assert.deepEqual(snapshot.lastRequest?.body, { model: 'nope', messages: [] });
      await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' }, { headers: { 'content-type': 'application/json', 'x-trace': 't1' } });
      assert.equal((await stats(engine)).lastRequest?.headers['x-trace'], 't1');
    }));

  it('counts a streaming client that goes away as cancelled and stops generating at once', () =>
    withMockEngine({ model: 'm', mode: 'echo', itlMs: 50 }, async (engine) => {
      const controller = new AbortController();
      const response = await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: LONG_PROMPT, max_tokens: 40, stream: true }, { signal: controller.signal });
      const reader = response.body!.getReader();
      await reader.read(); // the first token
      assert.equal((await stats(engine)).inFlight, 1);
      controller.abort();
      await eventually(async () => (await stats(engine)).cancelled === 1);
      const snapshot = await stats(engine);
      assert.equal(snapshot.inFlight, 0);
      assert.equal(snapshot.completed, 0);

      const generatedAtCancel = metricValue(await (await fetch(`${engine.url}/metrics`)).text(), 'vllm:generation_tokens_total{model_name="m"}')!;
      await new Promise((resolve) => setTimeout(resolve, 200));
      const metrics = await (await fetch(`${engine.url}/metrics`)).text();
      assert.equal(metricValue(metrics, 'vllm:generation_tokens_total{model_name="m"}'), generatedAtCancel);
      assert.ok(generatedAtCancel < 5, `generated ${generatedAtCancel} tokens`);
      assert.equal(metricValue(metrics, 'vllm:num_requests_running{model_name="m"}'), 0);
      assert.equal(metricValue(metrics, 'vllm:request_success_total{model_name="m",finished_reason="abort"}'), 1);
    }));

  it('counts a non-streaming client that gives up before the answer as cancelled', () =>
    withMockEngine({ model: 'm', ttftMs: 2000 }, async (engine) => {
      await assert.rejects(postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' }, { signal: AbortSignal.timeout(100) }));
      await eventually(async () => (await stats(engine)).cancelled === 1);
      assert.equal((await stats(engine)).inFlight, 0);
    }));

  it('counts a client that goes away in the middle of its request body as cancelled', () =>
    withMockEngine({ model: 'm' }, async (engine) => {
      const socket = connect(engine.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('POST /v1/completions HTTP/1.1\r\nhost: mock\r\ncontent-length: 100\r\n\r\n{"model":');
      await eventually(async () => (await stats(engine)).received === 1);
      socket.destroy();
      await eventually(async () => (await stats(engine)).cancelled === 1);
      assert.equal((await stats(engine)).inFlight, 0);
    }));

  it('is cleared by /mock/reset', () =>
    withMockEngine({ model: 'm' }, async (engine) => {
      await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' });
      await postJson(`${engine.url}/mock/faults`, { status: 500, count: 5 });
      const reset = await fetch(`${engine.url}/mock/reset`, { method: 'POST' });
      assert.equal(reset.status, 200);
      const snapshot = await stats(engine);
      assert.deepEqual([snapshot.received, snapshot.completed, snapshot.lastRequest], [0, 0, null]);
      assert.equal((await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' })).status, 200);
    }));
});

describe('/mock/faults', () => {
  it('answers the next `count` inference requests with the injected status', () =>
    withMockEngine({ model: 'm' }, async (engine) => {
      const queued = await postJson(`${engine.url}/mock/faults`, { status: 503, count: 2 });
      assert.equal(queued.status, 200);
      const openai = new OpenAI({ baseURL: `${engine.url}/v1`, apiKey: 'x', maxRetries: 0 });
      for (let i = 0; i < 2; i++) {
        await assert.rejects(openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }), { status: 503 });
      }
      const ok = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
      assert.equal(ok.choices[0].finish_reason, 'stop');
      assert.equal((await fetch(`${engine.url}/health`)).status, 200);
    }));

  it('sends a given body verbatim, also to streaming requests', () =>
    withMockEngine({ model: 'm' }, async (engine) => {
      await postJson(`${engine.url}/mock/faults`, { status: 429, body: '{"error":"slow down"}' });
      const response = await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x', stream: true });
      assert.equal(response.status, 429);
      assert.equal(response.headers.get('x-mock-instance'), engine.instanceName);
      assert.equal(await response.text(), '{"error":"slow down"}');
    }));

  it('waits headerDelayMs before sending any headers', () =>
    withMockEngine({ model: 'm' }, async (engine) => {
      await postJson(`${engine.url}/mock/faults`, { headerDelayMs: 200 });
      const started = performance.now();
      const response = await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x', stream: true });
      assert.ok(performance.now() - started >= 195, 'headers came too early');
      assert.equal(sseData(await response.text()).at(-1), '[DONE]');
      const fast = performance.now();
      await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' });
      assert.ok(performance.now() - fast < 150, 'the fault applied twice');
    }));

  it('destroys the socket after dropAfterChunks SSE events', () =>
    withMockEngine({ model: 'm' }, async (engine) => {
      await postJson(`${engine.url}/mock/faults`, { dropAfterChunks: 2 });
      const response = await postJson(`${engine.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
      assert.equal(response.status, 200);
      const { text, cut } = await readUntilEndOrCut(response);
      assert.ok(cut, 'the stream ended cleanly');
      assert.equal(sseData(text).length, 2);
      await eventually(async () => (await stats(engine)).dropped === 1);
      assert.equal((await stats(engine)).cancelled, 0);
    }));

  it('with dropAfterChunks 0, sends the stream headers and then cuts', () =>
    withMockEngine({ model: 'm' }, async (engine) => {
      await postJson(`${engine.url}/mock/faults`, { dropAfterChunks: 0 });
      const response = await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x', stream: true });
      assert.equal(response.status, 200);
      assert.deepEqual(await readUntilEndOrCut(response), { text: '', cut: true });
    }));

  it('cuts a non-streaming answer instead of sending its body', () =>
    withMockEngine({ model: 'm' }, async (engine) => {
      await postJson(`${engine.url}/mock/faults`, { dropAfterChunks: 0 });
      await assert.rejects(postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' }));
      assert.equal((await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x' })).status, 200);
    }));
});

describe('close()', () => {
  it('resolves promptly with a stream open and cuts it', async () => {
    const engine = await startMockEngine({ model: 'm', port: 0, itlMs: 5000 });
    const response = await postJson(`${engine.url}/v1/completions`, { model: 'm', prompt: 'x', stream: true });
    const reading = readUntilEndOrCut(response);
    await eventually(async () => (await stats(engine)).inFlight === 1);
    const started = performance.now();
    await engine.close();
    assert.ok(performance.now() - started < 500, 'close() was slow');
    assert.equal((await reading).cut, true);
    await assert.rejects(fetch(`${engine.url}/health`));
  });
});
