// SGLang's concurrent legs: the decode's answer is held back until the prefill succeeded, so nothing of a pair whose
// prefill fails ever reaches the client, even when its decode already answered in full. Scripted fake pods make the
// order of events certain.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createEnv, simpleRoute, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { pdPod, pdServer, postAndReadAll } from '../support/pd-fixtures.ts';
import { completionJson, startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { sseData } from '../support/raw-http.ts';

function stream(res: ServerResponse, text: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(`data: {"id":"x","object":"text_completion","choices":[{"index":0,"text":"${text}"}]}\n\ndata: [DONE]\n\n`);
}

describe('PD: an SGLang decode answer waits for its prefill', () => {
  let env: TestEnv;
  let url: string;
  const fakes: Record<'p1' | 'd1' | 'p2' | 'd2', FakePod> = {} as Record<'p1' | 'd1' | 'p2' | 'd2', FakePod>;
  /** Per prefill: what it answers, after how long; and whether it has answered. */
  const prefillPlan = { p1: { status: 200, delayMs: 100 }, p2: { status: 200, delayMs: 100 } };
  const answered = { p1: false, p2: false };

  before(async () => {
    env = await createEnv();
    for (const name of ['p1', 'd1', 'p2', 'd2'] as const) fakes[name] = await startFakePod(name);
    for (const name of ['p1', 'p2'] as const) {
      fakes[name].handler = (_req, res) => {
        setTimeout(() => {
          answered[name] = true;
          const { status } = prefillPlan[name];
          const body = status === 200 ? completionJson('m', 'x') : '{"error":"prefill failed"}';
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        }, prefillPlan[name].delayMs);
      };
    }
    // The decodes answer in full at once, before their prefill did.
    fakes.d1.handler = (_req, res) => stream(res, 'from d1');
    fakes.d2.handler = (_req, res) => stream(res, 'from d2');
    await writeYaml(env, 'pd.yaml', [
      pdServer('held', 'sglang', { retry: { attempts: 2, interval: '10ms' } }),
      pdPod('p1', 'held', 'prefill', 'g1', fakes.p1.port),
      pdPod('d1', 'held', 'decode', 'g1', fakes.d1.port),
      pdPod('p2', 'held', 'prefill', 'g2', fakes.p2.port),
      pdPod('d2', 'held', 'decode', 'g2', fakes.d2.port),
      simpleRoute('held', 'held', 'held'),
    ]);
    url = (await startRouter(env)).url;
  });
  after(async () => {
    await env.cleanup();
    await Promise.all(Object.values(fakes).map((f) => f.close()));
  });
  beforeEach(() => {
    for (const fake of Object.values(fakes)) fake.requests.length = 0;
    prefillPlan.p1 = { status: 200, delayMs: 100 };
    prefillPlan.p2 = { status: 200, delayMs: 100 };
  });

  it('sends the decode\'s stream only after its prefill answered', async () => {
    for (let i = 0; i < 4; i++) {
      answered.p1 = answered.p2 = false;
      const conn = await postAndReadAll(url, '/v1/completions', { model: 'held', prompt: `x${i}`, stream: true });
      assert.equal(conn.status, 200, conn.raw);
      const text = (JSON.parse(sseData(conn.body)[0]) as { choices: { text: string }[] }).choices[0].text;
      const prefill = text === 'from d1' ? 'p1' : 'p2';
      assert.equal(answered[prefill], true, 'the prefill of the pair had answered before the client got anything');
      const room = (JSON.parse(fakes[prefill].requests.at(-1)!.body) as { bootstrap_room: number }).bootstrap_room;
      const decode = prefill === 'p1' ? fakes.d1 : fakes.d2;
      assert.equal((JSON.parse(decode.requests.at(-1)!.body) as { bootstrap_room: number }).bootstrap_room, room);
    }
  });

  it('drops a decode answer whose prefill failed, and serves the request from another pair', async () => {
    prefillPlan.p1 = { status: 503, delayMs: 100 };
    for (let i = 0; i < 40 && fakes.p1.requests.length === 0; i++) {
      const conn = await postAndReadAll(url, '/v1/completions', { model: 'held', prompt: `y${i}`, stream: true });
      assert.equal(conn.responses, 1, conn.raw);
      assert.equal(conn.status, 200, conn.raw);
      assert.equal(conn.trailing, '');
      const events = sseData(conn.body);
      assert.deepEqual(events.map((e) => (e === '[DONE]' ? e : (JSON.parse(e) as { choices: { text: string }[] }).choices[0].text)), ['from d2', '[DONE]']);
    }
    assert.equal(fakes.p1.requests.length, 1, 'the failing pair was tried');
    assert.equal(fakes.d1.requests.length, 1, 'and its decode had answered in full, never to be seen');
  });
});
