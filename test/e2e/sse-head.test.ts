// An event stream's head: the router sends the status line and headers along with the first event when both come in
// one read from the pod, but never holds them back waiting for that event. A client must see its 200 while the
// engine is still computing the first token (prefill of a long prompt can take seconds).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import { createEnv, modelServer, podStub, simpleRoute, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { startFakePod, type FakePod } from '../support/proxy-fixtures.ts';

const MODEL = 'slow-prefill';
const EVENT = (text: string) => `data: {"id":"c","object":"text_completion","model":"${MODEL}","choices":[{"index":0,"text":"${text}","finish_reason":null}]}\n\n`;

describe('event stream head', () => {
  let env: TestEnv;
  let router: RouterApp;
  let pod: FakePod;

  before(async () => {
    env = await createEnv();
    pod = await startFakePod('slow');
    await writeYaml(env, 'config.yaml', [modelServer('slow', { model: MODEL }), podStub('slow-0', 'slow', pod.port), simpleRoute('slow', MODEL, 'slow')]);
    router = await startRouter(env);
  });
  after(async () => {
    await pod.close();
    await env.cleanup();
  });

  it('reaches the client before the first event, which the pod sends only once the client has the head', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    pod.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      void released.then(() => {
        res.write(EVENT('Hello'));
        res.end(`${EVENT(' world')}data: [DONE]\n\n`);
      });
    };
    const headers = fetch(`${router.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'a long prompt', stream: true }),
    });
    // fetch settles on the response head; the pod holds every event until then.
    const noHead = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no response head while the pod sent no event')), 10_000).unref());
    const res = await Promise.race([headers, noHead]);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    release();
    const text = await res.text();
    assert.deepEqual(text.split('\n\n').filter(Boolean).map((e) => e.slice(0, 40)), [EVENT('Hello'), EVENT(' world'), 'data: [DONE]'].map((e) => e.trim().slice(0, 40)));
    assert.ok(text.includes('"text":"Hello"') && text.includes('"text":" world"'));
  });

  it('leaves with the first event in one piece when the pod sends both at once', async () => {
    pod.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${EVENT('Hi')}data: [DONE]\n\n`);
    };
    const res = await fetch(`${router.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'short', stream: true }),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(text.startsWith('data: {') && text.includes('"text":"Hi"') && text.endsWith('data: [DONE]\n\n'), text);
  });
});
