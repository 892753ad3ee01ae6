// Upstream failures: retries (another pod, only before the first byte, only on connection errors/502/503/504), the
// per-attempt timeout (504), unreachable pods (502), upstream errors passed through untouched, and streams that
// break midway ending with an SSE error event and never a second response.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { client, createEnv, mockFault, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { deadPort, occupy, startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { sseData } from '../support/raw-http.ts';

const BASE = 'base-model';
const ANSWER = `This is simulated message from ${BASE}!`;

interface ErrorBody {
  error: { message: string; type: string; code: string };
}

describe('upstream failures', () => {
  let env: TestEnv;
  let router: RouterApp;
  let url: string;
  let a: MockEngineHandle;
  let b: MockEngineHandle;
  let drip: MockEngineHandle;
  let fakes: FakePod[];

  // The harness's MockStats type predates the `dropped` counter the mock reports.
  const droppedBy = async (m: MockEngineHandle): Promise<number> => ((await mockStats(m)) as { dropped?: number }).dropped ?? -1;
  const received = async (): Promise<[number, number]> => [(await mockStats(a)).received, (await mockStats(b)).received];
  // A new prompt each time: the default scheduler's prefix-cache plugin would keep a repeated prompt on one pod.
  let prompts = 0;
  const completion = (model: string, extra: object = {}) => post(`${url}/v1/completions`, { model, prompt: `x ${++prompts}`, ...extra });

  before(async () => {
    env = await createEnv();
    a = await startMock(env, { model: BASE, instanceName: 'a' });
    b = await startMock(env, { model: BASE, instanceName: 'b' });
    drip = await startMock(env, { model: BASE, instanceName: 'drip', itlMs: 60, maxTokens: 8 });
    fakes = [await startFakePod('fake-0'), await startFakePod('fake-1')];
    const [dead1, dead2] = [await deadPort(), await deadPort()];
    await writeYaml(env, 'config.yaml', [
      modelServer('pair', { model: BASE, timeout: '300ms', retry: { attempts: 3, interval: '10ms' } }),
      podStub('pair-a', 'pair', a.port),
      podStub('pair-b', 'pair', b.port),
      simpleRoute('pair', 'pair', 'pair'),
      // A second way to reach b alone, to keep it busy so that 'pair' tries a first.
      modelServer('hold-b', { model: BASE }),
      podStub('hold-b', 'hold-b', b.port),
      simpleRoute('hold-b', 'hold-b', 'hold-b'),
      modelServer('noretry', { model: BASE }),
      podStub('noretry-a', 'noretry', a.port),
      podStub('noretry-b', 'noretry', b.port),
      simpleRoute('noretry', 'noretry', 'noretry'),
      modelServer('paced', { model: BASE, retry: { attempts: 1, interval: '400ms' } }),
      podStub('paced-a', 'paced', a.port),
      podStub('paced-b', 'paced', b.port),
      simpleRoute('paced', 'paced', 'paced'),
      modelServer('drip', { model: BASE, timeout: '200ms' }),
      podStub('drip-0', 'drip', drip.port),
      simpleRoute('drip', 'drip', 'drip'),
      modelServer('dead', { model: BASE, retry: { attempts: 2 } }),
      podStub('dead-1', 'dead', dead1),
      podStub('dead-2', 'dead', dead2),
      simpleRoute('dead', 'dead', 'dead'),
      modelServer('dead-single', { model: BASE }),
      podStub('dead-single', 'dead-single', dead1),
      simpleRoute('dead-single', 'dead-single', 'dead-single'),
      modelServer('fakes', { model: BASE, retry: { attempts: 3 } }),
      podStub('fake-0', 'fakes', fakes[0].port),
      podStub('fake-1', 'fakes', fakes[1].port),
      simpleRoute('fakes', 'fakes', 'fakes'),
    ]);
    router = await startRouter(env);
    url = router.url;
  });
  after(async () => {
    await env.cleanup();
    await Promise.all(fakes.map((f) => f.close()));
  });
  beforeEach(async () => {
    for (const m of [a, b, drip]) await post(`${m.url}/mock/reset`, '');
    for (const f of fakes) f.requests.length = 0;
  });

  describe('retries', () => {
    it('retries 502, 503 and 504 on the other pod', async () => {
      const release = await occupy(url, 'hold-b', b);
      try {
        for (const status of [502, 503, 504]) {
          const [a0, b0] = await received();
          await mockFault(a, { status });
          const res = await completion('pair', { max_tokens: 3 });
          assert.equal(res.status, 200, `${status}: ${res.text}`);
          assert.equal((res.json() as { choices: { text: string }[] }).choices[0].text, 'This is simulated');
          assert.deepEqual(await received(), [a0 + 1, b0 + 1], `${status}: a first, then b`);
        }
      } finally {
        await release();
      }
    });

    it('never retries on the same pod, and passes the last answer through when every pod failed', async () => {
      await mockFault(a, { status: 503, body: '{"error":"a is overloaded"}' });
      await mockFault(b, { status: 503, body: '{"error":"b is overloaded"}' });
      const res = await completion('pair');
      assert.equal(res.status, 503);
      assert.match(res.text, /^\{"error":"[ab] is overloaded"\}$/, "the pod's own body");
      assert.deepEqual(await received(), [1, 1], 'three retries allowed, but only two pods');
    });

    it('retries after a connection breaks before any byte was sent', async () => {
      const release = await occupy(url, 'hold-b', b);
      try {
        await mockFault(a, { dropAfterChunks: 0 });
        const res = await completion('pair');
        assert.equal(res.status, 200, res.text);
        assert.equal(await droppedBy(a), 1);
      } finally {
        await release();
      }
    });

    it('does not retry 4xx and other 5xx: status and body reach the client as they are', async () => {
      for (const status of [400, 401, 404, 422, 429, 500, 501]) {
        const body = JSON.stringify({ object: 'error', message: `engine says ${status}`, code: status });
        await mockFault(a, { status, body });
        await mockFault(b, { status, body });
        const res = await post(`${url}/v1/completions`, { model: 'pair', prompt: 'x' }, { 'x-request-id': `rid-${status}` });
        assert.equal(res.status, status);
        assert.equal(res.text, body);
        assert.equal(res.headers['x-request-id'], `rid-${status}`);
        const [ra, rb] = await received();
        assert.equal(ra + rb, 1, `${status} was not retried`);
        for (const m of [a, b]) await post(`${m.url}/mock/reset`, '');
      }
    });

    it('passes an error answer to a streaming request through as JSON', async () => {
      const body = '{"object":"error","message":"prompt too long","type":"BadRequestError","param":null,"code":400}';
      await mockFault(a, { status: 400, body });
      await mockFault(b, { status: 400, body });
      const res = await completion('pair', { stream: true });
      assert.equal(res.status, 400);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(res.text, body);
    });

    it('gives the openai client the upstream error', async () => {
      await mockFault(a, { status: 500 });
      await mockFault(b, { status: 500 });
      await assert.rejects(client(router).completions.create({ model: 'pair', prompt: 'x' }), (e: unknown) => e instanceof OpenAI.InternalServerError && /Injected fault/.test(e.message));
    });

    it('passes 503 through without a retry policy', async () => {
      await mockFault(a, { status: 503 });
      await mockFault(b, { status: 503 });
      const res = await completion('noretry');
      assert.equal(res.status, 503);
      assert.equal((res.json() as { message: string }).message, 'Injected fault: HTTP 503.');
      const [ra, rb] = await received();
      assert.equal(ra + rb, 1);
    });

    it('waits retryInterval before retrying', async () => {
      await mockFault(a, { status: 503 });
      await mockFault(b, { status: 503 });
      const started = Date.now();
      const res = await completion('paced');
      assert.equal(res.status, 503);
      assert.deepEqual(await received(), [1, 1]);
      assert.ok(Date.now() - started >= 350, 'the retry waited for the 400ms interval');
    });
  });

  describe('timeouts', () => {
    it('answers 504 when no pod sends headers in time, one timeout per attempt', async () => {
      await mockFault(a, { headerDelayMs: 2000 });
      await mockFault(b, { headerDelayMs: 2000 });
      const res = await post(`${url}/v1/completions`, { model: 'pair', prompt: 'x' }, { 'x-request-id': 'rid-timeout' });
      assert.equal(res.status, 504, res.text);
      const err = (res.json() as ErrorBody).error;
      assert.equal(err.code, 'upstream_timeout');
      assert.equal(err.type, 'timeout_error');
      assert.equal(res.headers['x-request-id'], 'rid-timeout');
      assert.deepEqual(await received(), [1, 1], 'the second pod got its own attempt');
      await waitFor(async () => (await mockStats(a)).cancelled + (await mockStats(b)).cancelled === 2, 5000, 'the abandoned requests to be cancelled');
    });

    it('retries a timed-out attempt on the other pod', async () => {
      const release = await occupy(url, 'hold-b', b);
      try {
        await mockFault(a, { headerDelayMs: 2000 });
        const res = await completion('pair');
        assert.equal(res.status, 200, res.text);
        await waitFor(async () => (await mockStats(a)).cancelled === 1, 5000, 'the slow attempt to be cancelled');
      } finally {
        await release();
      }
    });

    it('bounds only the wait for headers: a stream may run longer', async () => {
      const res = await completion('drip', { stream: true });
      assert.equal(res.status, 200, res.text);
      const text = sseData(res.text).filter((d) => d !== '[DONE]').map((d) => (JSON.parse(d) as { choices: { text: string }[] }).choices[0].text).join('');
      assert.equal(text, ANSWER);
      // Not streamed, the same answer only sends headers once all 8 tokens exist: longer than the 200ms timeout.
      const slow = await completion('drip');
      assert.equal(slow.status, 504, slow.text);
      assert.equal((slow.json() as ErrorBody).error.code, 'upstream_timeout');
    });
  });

  describe('unreachable pods', () => {
    it('answers 502 when no pod accepts a connection', async () => {
      for (const model of ['dead', 'dead-single']) {
        const res = await post(`${url}/v1/completions`, { model, prompt: 'x' }, { 'x-request-id': `rid-${model}` });
        assert.equal(res.status, 502, res.text);
        const err = (res.json() as ErrorBody).error;
        assert.equal(err.code, 'upstream_unavailable');
        assert.equal(err.type, 'server_error');
        assert.equal(res.headers['x-request-id'], `rid-${model}`);
      }
    });

    it('answers 502 when the connection breaks before headers and no retry is allowed', async () => {
      await mockFault(a, { dropAfterChunks: 0 });
      await mockFault(b, { dropAfterChunks: 0 });
      const res = await completion('noretry');
      assert.equal(res.status, 502, res.text);
      assert.equal((res.json() as ErrorBody).error.code, 'upstream_unavailable');
    });
  });

  describe('streams that break midway', () => {
    for (const includeUsage of [false, true]) {
      it(`end with an SSE error event and no second response (include_usage ${includeUsage})`, async () => {
        await mockFault(a, { dropAfterChunks: 3 });
        await mockFault(b, { dropAfterChunks: 3 });
        const res = await completion('pair', { stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) });
        assert.equal(res.status, 200);
        const events = sseData(res.text);
        assert.equal(events.length, 4, res.text);
        const chunks = events.slice(0, 3).map((e) => JSON.parse(e) as { choices: { text: string }[] });
        assert.equal(chunks.map((c) => c.choices[0].text).join(''), 'This is simulated');
        assert.equal((JSON.parse(events[3]) as ErrorBody).error.code, 'upstream_stream_error');
        assert.ok(res.text.endsWith('\n\n'));
        const [ra, rb] = await received();
        assert.equal(ra + rb, 1, 'no retry after bytes reached the client');
        assert.equal((await droppedBy(a)) + (await droppedBy(b)), 1, "the one attempt was cut by the mock");
      });
    }

    it('make the openai client throw after the chunks it got', async () => {
      await mockFault(a, { dropAfterChunks: 4 });
      await mockFault(b, { dropAfterChunks: 4 });
      let text = '';
      await assert.rejects(async () => {
        for await (const chunk of await client(router).chat.completions.create({ model: 'pair', messages: [{ role: 'user', content: 'Hi' }], stream: true })) {
          text += chunk.choices[0]?.delta.content ?? '';
        }
      }, (e: unknown) => e instanceof OpenAI.APIError && /broke off/.test(e.message));
      assert.equal(text, 'This is simulated');
    });

    it('end cleanly when the pod dies in the middle of an event', async () => {
      for (const fake of fakes) {
        fake.handler = (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: {"id":"1","object":"text_completion","choices":[{"index":0,"text":"Hello"}]}\n\n');
          res.write('data: {"id":"2","object":"text_completion","choi');
          setTimeout(() => res.destroy(), 20);
        };
      }
      for (const includeUsage of [false, true]) {
        const res = await completion('fakes', { stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) });
        assert.equal(res.status, 200);
        const events = sseData(res.text);
        assert.equal(events.length, 2, res.text);
        assert.equal((JSON.parse(events[0]) as { choices: { text: string }[] }).choices[0].text, 'Hello');
        assert.equal((JSON.parse(events[1]) as ErrorBody).error.code, 'upstream_stream_error', 'a whole event, not glued to the broken one');
      }
      assert.equal(fakes[0].requests.length + fakes[1].requests.length, 2, 'one attempt per request');
    });

    it('end with an error event when the pod ends its body cleanly in the middle of an event', async () => {
      for (const fake of fakes) {
        fake.handler = (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: {"id":"1","object":"text_completion","choices":[{"index":0,"text":"Hello"}]}\n\n');
          res.end('data: {"id":"2","object":"text_completion","choi');
        };
      }
      const res = await completion('fakes', { stream: true });
      assert.equal(res.status, 200);
      const events = sseData(res.text);
      assert.equal(events.length, 2, res.text);
      assert.equal((JSON.parse(events[0]) as { choices: { text: string }[] }).choices[0].text, 'Hello');
      assert.equal((JSON.parse(events[1]) as ErrorBody).error.code, 'upstream_stream_error', res.text);
      assert.ok(!res.text.includes('"choi\n'), 'the half event is not passed on');
      assert.equal(fakes[0].requests.length + fakes[1].requests.length, 1, 'no retry once bytes reached the client');

      // A stream whose last event is whole, or a [DONE] without its blank line, ended well.
      for (const ending of ['data: [DONE]\n\n', 'data: [DONE]', '\n']) {
        for (const fake of fakes) {
          fake.handler = (_req, r) => {
            r.writeHead(200, { 'content-type': 'text/event-stream' });
            r.write('data: {"id":"1","object":"text_completion","choices":[{"index":0,"text":"Hello"}]}\n\n');
            r.end(ending);
          };
        }
        const whole = await completion('fakes', { stream: true });
        assert.ok(!whole.text.includes('upstream_stream_error'), `${JSON.stringify(ending)}: ${whole.text}`);
      }
    });

    it('cut the client connection when a non-streamed body breaks after the headers', async () => {
      for (const fake of fakes) {
        fake.handler = (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          res.write('{"id":"cmpl-1","choices":[');
          setTimeout(() => res.destroy(), 20);
        };
      }
      await assert.rejects(completion('fakes'));
      assert.equal(fakes[0].requests.length + fakes[1].requests.length, 1, 'no second attempt');
      const ok = await completion('pair');
      assert.equal(ok.status, 200, 'the router keeps serving');
    });
  });

  it('leaves no failed attempt counted in flight: idle pods still tie', async () => {
    // A leaked in-flight count would make the least-request picker avoid that pod for good.
    for (let i = 0; i < 20; i++) assert.equal((await completion('pair')).status, 200);
    const [ra, rb] = await received();
    assert.ok(ra > 0 && rb > 0, `both pods serve (${ra}/${rb})`);
  });
});
