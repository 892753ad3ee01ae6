// PD disaggregation when things fail: a failed pair is retried on another pair only before any byte reached the
// client; a decode that breaks mid-stream ends the response with one SSE error event and never a second response
// (checked on the raw bytes of the connection); trafficPolicy.timeout bounds each leg; SGLang's two concurrent legs
// cancel each other; a client that leaves cancels both legs; no pair is 503.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { client, createEnv, mockFault, mockStats, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { pdPod, pdPods, pdServer, postAndReadAll, startPdMocks, type PdPairMocks } from '../support/pd-fixtures.ts';
import { sseData } from '../support/raw-http.ts';

const MODEL = 'org/pd-model';
const ANSWER = `This is simulated message from ${MODEL}!`;

interface ErrorBody {
  error: { message: string; type: string; code: string };
}

describe('PD disaggregation: failures', () => {
  let env: TestEnv;
  let url: string;
  let nx: PdPairMocks[];
  let sg: PdPairMocks[];
  let slow: PdPairMocks[];
  let plain: { prefill: MockEngineHandle; decode: MockEngineHandle };
  let lonely: MockEngineHandle;
  let prompts = 0;
  const body = (model: string, extra: object = {}) => ({ model, prompt: `Where is pair ${++prompts}?`, ...extra });
  const all = (): MockEngineHandle[] => [...[nx, sg, slow].flat().flatMap((p) => [p.prefill, p.decode]), plain.prefill, plain.decode, lonely];
  const sum = async (mocks: MockEngineHandle[], key: 'received' | 'cancelled' | 'completed'): Promise<number> =>
    (await Promise.all(mocks.map(mockStats))).reduce((n, s) => n + s[key], 0);
  const prefills = (pairs: PdPairMocks[]) => pairs.map((p) => p.prefill);
  const decodes = (pairs: PdPairMocks[]) => pairs.map((p) => p.decode);

  before(async () => {
    env = await createEnv();
    nx = await startPdMocks(env, 'nx', 'nixl', ['g1', 'g2'], { model: MODEL });
    // Decodes take a while (16 tokens, 20 ms apart): a leg abandoned by the router is still running, so it counts as cancelled.
    sg = await startPdMocks(env, 'sg', 'sglang', ['g1', 'g2'], { model: MODEL, pdTimeoutMs: 3000, itlMs: 20 });
    slow = await startPdMocks(env, 'slow', 'nixl', ['g1'], { model: MODEL, itlMs: 100, maxTokens: 30 });
    // A prefill that is an ordinary engine: it never answers kv_transfer_params.
    plain = {
      prefill: await startMock(env, { model: MODEL, instanceName: 'plain-prefill' }),
      decode: await startMock(env, { model: MODEL, role: 'decode', kvConnector: 'nixl', instanceName: 'plain-decode' }),
    };
    lonely = await startMock(env, { model: MODEL, role: 'decode', kvConnector: 'nixl', instanceName: 'lonely-decode' });
    // Port 1 (tcpmux) has no listener on a test machine, unlike a port that was free a moment ago, which a test
    // running alongside may have taken since.
    const dead = 1;
    await writeYaml(env, 'pd.yaml', [
      pdServer('nx', 'nixl', { model: MODEL, retry: { attempts: 2, interval: '10ms' } }),
      ...pdPods('nx', nx),
      simpleRoute('nx', 'nx', 'nx'),
      // The same pods with a timeout per leg (generous: a loaded test machine must not trip it by accident).
      pdServer('nx-timeout', 'nixl', { model: MODEL, timeout: '800ms', retry: { attempts: 2, interval: '10ms' } }),
      ...pdPods('nx-timeout', nx, 'to-'),
      simpleRoute('nx-timeout', 'nx-timeout', 'nx-timeout'),
      // The same pods without a retry policy; g1's prefill in this server is a port nobody listens on.
      pdServer('nx-noretry', 'nixl', { model: MODEL }),
      pdPod('nr-g1-prefill', 'nx-noretry', 'prefill', 'g1', dead),
      pdPod('nr-g1-decode', 'nx-noretry', 'decode', 'g1', nx[0].decode.port),
      pdPod('nr-g2-prefill', 'nx-noretry', 'prefill', 'g2', nx[1].prefill.port),
      pdPod('nr-g2-decode', 'nx-noretry', 'decode', 'g2', nx[1].decode.port),
      simpleRoute('nx-noretry', 'nx-noretry', 'nx-noretry'),
      pdServer('sg', 'sglang', { model: MODEL, retry: { attempts: 2, interval: '10ms' } }),
      ...pdPods('sg', sg),
      simpleRoute('sg', 'sg', 'sg'),
      pdServer('sg-noretry', 'sglang', { model: MODEL }),
      ...pdPods('sg-noretry', sg, 'nr-'),
      simpleRoute('sg-noretry', 'sg-noretry', 'sg-noretry'),
      pdServer('slow', 'nixl', { model: MODEL }),
      ...pdPods('slow', slow),
      simpleRoute('slow', 'slow', 'slow'),
      pdServer('plain', 'nixl', { model: MODEL }),
      pdPod('plain-prefill', 'plain', 'prefill', 'g1', plain.prefill.port),
      pdPod('plain-decode', 'plain', 'decode', 'g1', plain.decode.port),
      simpleRoute('plain', 'plain', 'plain'),
      // Decode pods only, and a prefill pod in a group of its own: no group has both roles.
      pdServer('lonely', 'nixl', { model: MODEL }),
      pdPod('lonely-decode', 'lonely', 'decode', 'g1', lonely.port),
      pdPod('lonely-prefill', 'lonely', 'prefill', 'g2', nx[0].prefill.port),
      simpleRoute('lonely', 'lonely', 'lonely'),
    ]);
    url = (await startRouter(env)).url;
  });
  after(() => env.cleanup());
  beforeEach(async () => {
    for (const mock of all()) await post(`${mock.url}/mock/reset`, '');
  });

  describe('retries before the first byte', () => {
    it('retries a pair whose prefill failed on another pair: one clean response', async () => {
      const [g1, g2] = nx;
      await mockFault(g1.prefill, { status: 503, count: 1000 });
      for (let i = 0; i < 40 && (await mockStats(g1.prefill)).received < 2; i++) {
        const conn = await postAndReadAll(url, '/v1/completions', body('nx'));
        assert.equal(conn.responses, 1, conn.raw);
        assert.equal(conn.status, 200, conn.raw);
        assert.ok(conn.complete && conn.trailing === '', 'nothing after the one response');
        assert.equal((JSON.parse(conn.body) as { choices: { text: string }[] }).choices[0].text, ANSWER);
        assert.match(conn.raw, new RegExp(`\\r\\nx-mock-pd-prefill: ${g2.prefill.instanceName}\\r\\n`), 'served by the healthy pair');
      }
      assert.ok((await mockStats(g1.prefill)).received >= 2, "g1's failing prefill was tried (and its pair retried)");
      assert.equal((await mockStats(g1.decode)).received, 0, 'no decode after a failed prefill');
    });

    it('retries a prefill that refuses connections without a retry policy', async () => {
      for (let i = 0; i < 12; i++) {
        const res = await post(`${url}/v1/completions`, body('nx-noretry'));
        assert.equal(res.status, 200, res.text);
        assert.equal(res.headers['x-mock-pd-prefill'], nx[1].prefill.instanceName);
      }
      assert.equal((await mockStats(nx[0].decode)).received, 0);
    });

    it('passes a prefill 4xx through as it is, without a decode', async () => {
      const error = JSON.stringify({ object: 'error', message: 'prompt too long', type: 'BadRequestError', param: null, code: 400 });
      for (const pair of nx) await mockFault(pair.prefill, { status: 400, body: error });
      const res = await post(`${url}/v1/completions`, body('nx', { stream: true }), { 'x-request-id': 'pd-400' });
      assert.equal(res.status, 400);
      assert.equal(res.text, error);
      assert.equal(res.headers['x-request-id'], 'pd-400');
      assert.equal(await sum(prefills(nx), 'received'), 1, 'a 400 is not retried');
      assert.equal(await sum(decodes(nx), 'received'), 0);
    });

    it('fails the pair when a nixl prefill answers without kv_transfer_params (never sends the decode null)', async () => {
      const res = await post(`${url}/v1/completions`, body('plain'));
      assert.equal(res.status, 502, res.text);
      const error = (res.json() as ErrorBody).error;
      assert.equal(error.code, 'upstream_protocol_error');
      assert.match(error.message, /answered without kv_transfer_params/);
      assert.equal((await mockStats(plain.decode)).received, 0);
    });
  });

  describe('breaks after the first byte', () => {
    for (const [name, pairs] of [['nx', () => nx], ['sg', () => sg]] as const) {
      it(`${name}: a decode broken mid-stream ends with one SSE error event, then close, and no second response`, async () => {
        for (const pair of pairs()) await mockFault(pair.decode, { dropAfterChunks: 3 });
        const conn = await postAndReadAll(url, '/v1/completions', body(name, { stream: true }));
        assert.equal(conn.responses, 1, conn.raw);
        assert.equal(conn.status, 200);
        assert.ok(conn.complete, 'the chunked body was ended properly');
        assert.equal(conn.trailing, '', 'not one byte after the response');
        const events = sseData(conn.body);
        assert.equal(events.length, 4, conn.body);
        assert.equal(events.slice(0, 3).map((e) => (JSON.parse(e) as { choices: { text: string }[] }).choices[0].text).join(''), 'This is simulated');
        assert.equal((JSON.parse(events[3]) as ErrorBody).error.code, 'upstream_stream_error');
        assert.equal(events.filter((e) => e === '[DONE]').length, 0);
        assert.equal(await sum(decodes(pairs()), 'received'), 1, 'no retry once bytes went out, despite the retry policy');
        assert.equal(await sum(prefills(pairs()), 'received'), 1);
      });
    }

    it('the openai client throws after the chunks it got', async () => {
      for (const pair of nx) await mockFault(pair.decode, { dropAfterChunks: 4 });
      let text = '';
      await assert.rejects(async () => {
        for await (const chunk of await client(env.router!).chat.completions.create({ model: 'nx', messages: [{ role: 'user', content: 'Hi' }], stream: true })) {
          text += chunk.choices[0]?.delta.content ?? '';
        }
      }, (e: unknown) => e instanceof OpenAI.APIError && /broke off/.test(e.message));
      assert.equal(text, 'This is simulated');
    });
  });

  describe('timeouts per leg', () => {
    it('a prefill slower than trafficPolicy.timeout: 504 after one try per pair, the slow prefills cancelled', async () => {
      for (const pair of nx) await mockFault(pair.prefill, { headerDelayMs: 5000 });
      const res = await post(`${url}/v1/completions`, body('nx-timeout'));
      assert.equal(res.status, 504, res.text);
      assert.equal((res.json() as ErrorBody).error.code, 'upstream_timeout');
      assert.match((res.json() as ErrorBody).error.message, /prefill pod default\/to-nx-g\d-prefill did not answer within 800 ms/);
      assert.equal(await sum(prefills(nx), 'received'), 2);
      assert.equal(await sum(decodes(nx), 'received'), 0);
      await waitFor(async () => (await sum(prefills(nx), 'cancelled')) === 2, 5000, 'the timed-out prefills to be cancelled');
    });

    it('a decode that sends no headers within trafficPolicy.timeout: 504, the decodes cancelled', async () => {
      for (const pair of nx) await mockFault(pair.decode, { headerDelayMs: 5000 });
      const res = await post(`${url}/v1/completions`, body('nx-timeout', { stream: true }));
      assert.equal(res.status, 504, res.text);
      assert.match((res.json() as ErrorBody).error.message, /decode pod default\/to-nx-g\d-decode sent no response headers within 800 ms/);
      await waitFor(async () => (await sum(decodes(nx), 'cancelled')) === 2, 5000, 'the timed-out decodes to be cancelled');
    });

    it('a slow prefill is retried on the other pair', async () => {
      const [g1, g2] = nx;
      await mockFault(g1.prefill, { headerDelayMs: 5000, count: 1000 });
      for (let i = 0; i < 40 && (await mockStats(g1.prefill)).received < 1; i++) {
        const res = await post(`${url}/v1/completions`, body('nx-timeout'));
        assert.equal(res.status, 200, res.text);
        assert.equal(res.headers['x-mock-pd-prefill'], g2.prefill.instanceName);
      }
      assert.equal((await mockStats(g1.prefill)).received, 1);
    });
  });

  describe('SGLang: the two concurrent legs cancel each other', () => {
    it('a failed decode cancels the prefill waiting for it', async () => {
      // The decode fails once the prefill is surely waiting for it.
      for (const pair of sg) await mockFault(pair.decode, { headerDelayMs: 100, status: 500 });
      const res = await post(`${url}/v1/completions`, body('sg-noretry'));
      assert.equal(res.status, 500, 'the decode\'s answer, as on the aggregated path');
      assert.match(res.text, /Injected fault: HTTP 500/);
      await waitFor(async () => (await sum(prefills(sg), 'cancelled')) === 1, 5000, 'the prefill to be cancelled');
      assert.equal(await sum(prefills(sg), 'completed'), 0);
    });

    it('a failed prefill cancels the decode waiting for it', async () => {
      // The prefill fails once the decode surely waits for it on the bootstrap server.
      for (const pair of sg) await mockFault(pair.prefill, { headerDelayMs: 400, status: 500 });
      const res = await post(`${url}/v1/completions`, body('sg-noretry', { stream: true }));
      assert.equal(res.status, 500);
      await waitFor(async () => (await sum(decodes(sg), 'cancelled')) === 1, 5000, 'the decode to be cancelled');
      assert.equal(await sum(decodes(sg), 'completed'), 0);
    });

    it('a prefill that breaks its connection is retried on another pair; the abandoned decode is cancelled', async () => {
      for (const pair of sg) await mockFault(pair.prefill, { headerDelayMs: 100, dropAfterChunks: 0, count: 1 });
      // Both prefills drop their first request: the first pair fails, the second one too; the policy allows 2 retries
      // but only 2 pairs exist, so the client gets the last failure.
      const res = await post(`${url}/v1/completions`, body('sg'));
      assert.equal(res.status, 502, res.text);
      assert.equal(await sum(prefills(sg), 'received'), 2);
      await waitFor(async () => (await sum(decodes(sg), 'cancelled')) === 2, 5000, 'both abandoned decodes to be cancelled');
      // Next request: the faults are used up, so a pair serves.
      const ok = await post(`${url}/v1/completions`, body('sg'));
      assert.equal(ok.status, 200, ok.text);
    });
  });

  describe('client disconnects', () => {
    it('cancel both SGLang legs while they wait for each other', async () => {
      for (const pair of sg) await mockFault(pair.prefill, { headerDelayMs: 5000 });
      const abort = new AbortController();
      const pending = fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body('sg-noretry', { stream: true })),
        signal: abort.signal,
      }).catch(() => null);
      await waitFor(async () => (await sum(prefills(sg), 'received')) === 1 && (await sum(decodes(sg), 'received')) === 1, 5000, 'both legs to start');
      abort.abort();
      await pending;
      await waitFor(async () => (await sum(prefills(sg), 'cancelled')) === 1 && (await sum(decodes(sg), 'cancelled')) === 1, 5000, 'both legs to be cancelled');
    });

    it('cancel the decode stream of a sequential connector at once', async () => {
      const abort = new AbortController();
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body('slow', { stream: true })),
        signal: abort.signal,
      });
      const reader = res.body!.getReader();
      await reader.read(); // the first chunk is here: the stream runs
      abort.abort();
      await reader.cancel().catch(() => undefined);
      await waitFor(async () => (await mockStats(slow[0].decode)).cancelled === 1, 5000, 'the decode to be cancelled');
      const prefill = await mockStats(slow[0].prefill);
      assert.deepEqual([prefill.completed, prefill.cancelled], [1, 0], 'the prefill had finished');
    });
  });

  it('answers 503 with an OpenAI-style error when no group has both a prefill and a decode pod', async () => {
    const res = await post(`${url}/v1/completions`, body('lonely'));
    assert.equal(res.status, 503);
    const error = (res.json() as ErrorBody).error;
    assert.deepEqual([error.code, error.type], ['no_pd_pair', 'server_error']);
    assert.match(error.message, /ModelServer default\/lonely has no PD group/);
    assert.equal((await mockStats(lonely)).received, 0);
    await assert.rejects(client(env.router!).completions.create({ model: 'lonely', prompt: 'x' }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 503);
  });
});
