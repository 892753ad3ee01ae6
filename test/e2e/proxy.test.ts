// What the router forwards: the path, the body (only `model` rewritten, stream_options.include_usage added to streams
// and the extra usage event hidden), and the headers (hop-by-hop removed, request id and x-forwarded-for set).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type OpenAI from 'openai';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { client, createEnv, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, writeYaml, type MockStats, type TestEnv } from '../support/harness.ts';
import { loraRoute, startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { rawRequest, sseData } from '../support/raw-http.ts';

const BASE = 'org/base-model';
const ANSWER = `This is simulated message from ${BASE}!`;

describe('proxying', () => {
  let env: TestEnv;
  let router: RouterApp;
  let url: string;
  let openai: OpenAI;
  let mock: MockEngineHandle;
  let fake: FakePod;

  const last = async (): Promise<NonNullable<MockStats['lastRequest']>> => {
    const stats = await mockStats(mock);
    assert.ok(stats.lastRequest, 'the mock received a request');
    return stats.lastRequest;
  };

  before(async () => {
    env = await createEnv();
    mock = await startMock(env, { model: BASE, loraAdapters: ['lora-x'], instanceName: 'base-0' });
    fake = await startFakePod('fake');
    await writeYaml(env, 'config.yaml', [
      modelServer('base', { model: BASE }),
      podStub('base-0', 'base', mock.port),
      loraRoute('chat', 'chat', ['lora-x'], 'base'),
      // No spec.model: the client's model goes through unchanged.
      modelServer('plain'),
      podStub('plain-0', 'plain', mock.port),
      simpleRoute('plain', BASE, 'plain'),
      modelServer('fake', { model: 'fake-upstream' }),
      podStub('fake-0', 'fake', fake.port),
      simpleRoute('fake', 'fake', 'fake'),
    ]);
    router = await startRouter(env, { allowPaths: ['/v1/some/new/endpoint'] });
    url = router.url;
    openai = client(router);
  });
  after(async () => {
    await env.cleanup();
    await fake.close();
  });

  describe('request body', () => {
    it('forwards a non-streaming body with only model rewritten to spec.model', async () => {
      const sent = {
        model: 'chat',
        prompt: ['San Francisco is a', 'x'],
        max_tokens: 5,
        temperature: 0,
        top_p: 0.9,
        n: 1,
        stop: ['\n'],
        seed: 7,
        user: 'u-1',
        stream: false,
        logit_bias: { '50256': -100 },
        vendor_extension: { nested: [1, { deep: true }] },
      };
      const res = await post(`${url}/v1/completions`, sent);
      assert.equal(res.status, 200, res.text);
      assert.equal((res.json() as { model: string }).model, BASE);
      const seen = await last();
      assert.equal(seen.method, 'POST');
      assert.equal(seen.path, '/v1/completions');
      assert.deepEqual(seen.body, { ...sent, model: BASE });
    });

    it('forwards chat without adding fields', async () => {
      const sent: OpenAI.ChatCompletionCreateParamsNonStreaming = {
        messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'Hi' }],
        model: 'chat',
        max_completion_tokens: 3,
      };
      const res = await openai.chat.completions.create(sent);
      assert.equal(res.model, BASE);
      const seen = await last();
      assert.equal(seen.path, '/v1/chat/completions');
      assert.deepEqual(seen.body, { ...sent, model: BASE });
    });

    it('changes no byte but the model value', async () => {
      const sent = '{ "prompt": "x\\u0041",\n  "model" : "fake" , "n":1, "model_extra": "fake" }';
      const res = await post(`${url}/v1/completions`, sent);
      assert.equal(res.status, 200, res.text);
      assert.equal(fake.requests.at(-1)?.body, '{ "prompt": "x\\u0041",\n  "model" : "fake-upstream" , "n":1, "model_extra": "fake" }');
    });

    it('keeps the model when the ModelServer has no spec.model', async () => {
      const sent = { model: BASE, prompt: 'x', max_tokens: 2 };
      const res = await post(`${url}/v1/completions`, sent);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual((await last()).body, sent);
    });

    it('keeps a LoRA adapter name, streaming or not', async () => {
      const sent = { model: 'lora-x', prompt: 'x' };
      const res = await post(`${url}/v1/completions`, sent);
      assert.equal(res.status, 200, res.text);
      assert.equal((res.json() as { model: string }).model, 'lora-x');
      assert.deepEqual((await last()).body, sent);
      let text = '';
      for await (const chunk of await openai.chat.completions.create({ model: 'lora-x', messages: [{ role: 'user', content: 'Hi' }], stream: true })) {
        text += chunk.choices[0]?.delta.content ?? '';
      }
      assert.equal(text, 'This is simulated message from lora-x!');
      assert.equal((await last()).body && ((await last()).body as { model: string }).model, 'lora-x');
    });

    it('routes /v1/embeddings by model and forwards it to the same path', async () => {
      const sent = { model: 'chat', input: ['a b', 'c'], encoding_format: 'float' };
      const res = await post(`${url}/v1/embeddings`, sent);
      assert.equal(res.status, 200, res.text);
      const body = res.json() as { data: { embedding: number[] }[]; model: string };
      assert.equal(body.data.length, 2);
      assert.equal(body.model, BASE);
      const seen = await last();
      assert.equal(seen.path, '/v1/embeddings');
      assert.deepEqual(seen.body, { ...sent, model: BASE });
      const viaClient = await openai.embeddings.create({ model: 'chat', input: 'hello' });
      assert.equal(viaClient.data[0].embedding.length, 8);
    });

    it('forwards an inference path and a path the operator allowed, query included, and passes the upstream answer through', async () => {
      const res = await post(`${url}/v1/rerank`, { model: 'chat', query: 'x', documents: ['y'] });
      assert.equal(res.status, 404, 'the mock has no /v1/rerank');
      assert.deepEqual(res.json(), { detail: 'Not Found' }, "the engine's own body, not a router error");
      const fakeRes = await post(`${url}/v1/some/new/endpoint?api-version=2&x=%20`, { model: 'fake', input: 'x' });
      assert.equal(fakeRes.status, 200, fakeRes.text);
      const seen = fake.requests.at(-1)!;
      assert.equal(seen.method, 'POST');
      assert.equal(seen.path, '/v1/some/new/endpoint?api-version=2&x=%20');
      assert.deepEqual(JSON.parse(seen.body), { model: 'fake-upstream', input: 'x' });
    });
  });

  describe('streaming usage', () => {
    const stream = async (body: object): Promise<{ events: string[]; seen: Record<string, unknown>; headers: Record<string, string> }> => {
      const res = await rawRequest(url, 'POST /v1/completions HTTP/1.1\nhost: x\ncontent-type: application/json', JSON.stringify(body));
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers['content-type'], /^text\/event-stream/);
      return { events: sseData(res.text), seen: (await last()).body as Record<string, unknown>, headers: res.headers };
    };
    const chunks = (events: string[]) => events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e) as { choices: { text: string }[]; usage?: unknown });

    it('asks the engine for usage and hides the usage-only event from a client that did not ask', async () => {
      const sent = { model: 'chat', prompt: 'x', stream: true };
      const { events, seen, headers } = await stream(sent);
      assert.deepEqual(seen, { ...sent, model: BASE, stream_options: { include_usage: true } });
      assert.equal(events.at(-1), '[DONE]');
      const parsed = chunks(events);
      assert.ok(parsed.length > 1);
      for (const c of parsed) {
        assert.ok(c.choices.length > 0, 'no usage-only event');
        assert.equal(c.usage ?? null, null);
      }
      assert.equal(parsed.map((c) => c.choices[0].text).join(''), ANSWER);
      assert.equal(headers['content-length'], undefined, 'the body was shortened: no stale content-length');
    });

    it("keeps the client's other stream_options and overrides include_usage false", async () => {
      const sent = { model: 'chat', prompt: 'x', stream: true, stream_options: { continuous_usage_stats: false, include_usage: false, extra: [1] } };
      const { events, seen } = await stream(sent);
      assert.deepEqual(seen, { ...sent, model: BASE, stream_options: { continuous_usage_stats: false, include_usage: true, extra: [1] } });
      assert.ok(chunks(events).every((c) => c.choices.length > 0));
    });

    it('passes the usage event through when the client asked for it', async () => {
      const sent = { stream_options: { include_usage: true }, model: 'chat', prompt: 'x', stream: true };
      const { events, seen } = await stream(sent);
      assert.deepEqual(seen, { ...sent, model: BASE });
      const parsed = chunks(events);
      const usage = parsed.filter((c) => c.choices.length === 0);
      assert.equal(usage.length, 1);
      assert.ok((usage[0].usage as { completion_tokens: number }).completion_tokens > 0);
      assert.equal(events.at(-1), '[DONE]');
    });

    it('hides the usage event from the openai client on chat streams too', async () => {
      const chunksSeen: OpenAI.ChatCompletionChunk[] = [];
      for await (const c of await openai.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Hi' }], stream: true })) chunksSeen.push(c);
      assert.ok(chunksSeen.every((c) => c.choices.length > 0 && (c.usage ?? null) === null));
      assert.deepEqual(((await last()).body as { stream_options: unknown }).stream_options, { include_usage: true });
    });
  });

  describe('headers', () => {
    it('drops hop-by-hop request headers and keeps end-to-end ones', async () => {
      const body = JSON.stringify({ model: 'chat', prompt: 'x' });
      const chunked = `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
      const res = await rawRequest(
        url,
        [
          'POST /v1/completions HTTP/1.1',
          'Host: router.example:8080',
          'Content-Type: application/json',
          'Connection: keep-alive, X-Hop-Custom',
          'X-Hop-Custom: secret',
          'Keep-Alive: timeout=5',
          'TE: trailers',
          'Upgrade: h2c',
          'Proxy-Authorization: Basic cHJveHk6cHc=',
          'Proxy-Connection: keep-alive',
          'Expect: 100-continue',
          'Transfer-Encoding: chunked',
          'Authorization: Bearer end-to-end',
          'X-End-To-End: kept',
          'X-Forwarded-For: 10.0.0.1',
          'X-Request-Id: rid-headers-1',
        ].join('\n'),
        chunked,
      );
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-request-id'], 'rid-headers-1');
      const h = (await last()).headers;
      for (const name of ['x-hop-custom', 'keep-alive', 'te', 'upgrade', 'proxy-authorization', 'proxy-connection', 'transfer-encoding', 'expect']) {
        assert.equal(h[name], undefined, `${name} must not reach the pod`);
      }
      assert.doesNotMatch(h.connection ?? '', /x-hop-custom/i);
      assert.equal(h['content-length'], String(Buffer.byteLength(body) + BASE.length - 'chat'.length), 'the body was forwarded with a length');
      assert.equal(h.authorization, 'Bearer end-to-end');
      assert.equal(h['x-end-to-end'], 'kept');
      assert.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
      assert.equal(h['x-request-id'], 'rid-headers-1');
      assert.equal(h['x-forwarded-host'], 'router.example:8080');
    });

    it('generates a request id, sends it to the pod and returns it; sets x-forwarded-for', async () => {
      const res = await post(`${url}/v1/completions`, { model: 'chat', prompt: 'x' });
      assert.equal(res.status, 200);
      const id = res.headers['x-request-id'];
      assert.ok(typeof id === 'string' && id.length > 0);
      const h = (await last()).headers;
      assert.equal(h['x-request-id'], id);
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      const again = await post(`${url}/v1/completions`, { model: 'chat', prompt: 'x' });
      assert.notEqual(again.headers['x-request-id'], id);
    });

    it('appends to every x-forwarded-for the client sent', async () => {
      const res = await rawRequest(url, 'POST /v1/completions HTTP/1.1\nhost: x\nx-forwarded-for: 10.0.0.1\nx-forwarded-for: 10.0.0.2, 10.0.0.3', JSON.stringify({ model: 'chat', prompt: 'x' }));
      assert.equal(res.status, 200);
      assert.equal((await last()).headers['x-forwarded-for'], '10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1');
    });

    it('returns the request id on streams', async () => {
      const res = await rawRequest(url, 'POST /v1/completions HTTP/1.1\nhost: x\nx-request-id: rid-stream', JSON.stringify({ model: 'chat', prompt: 'x', stream: true }));
      assert.equal(res.headers['x-request-id'], 'rid-stream');
      assert.equal((await last()).headers['x-request-id'], 'rid-stream');
    });

    it('drops hop-by-hop response headers and replaces the upstream request id', async () => {
      fake.handler = (_req, res) => {
        const body = '{"ok":true}';
        res.writeHead(200, [
          ['Content-Type', 'application/json'],
          ['Content-Length', String(body.length)],
          ['Connection', 'keep-alive, X-Resp-Hop'],
          ['X-Resp-Hop', 'hidden'],
          ['Keep-Alive', 'timeout=7, max=99'],
          ['Proxy-Authenticate', 'Basic realm="pod"'],
          ['X-Request-Id', 'upstream-id'],
          ['X-End-To-End', 'kept'],
        ].flat());
        res.end(body);
      };
      const res = await rawRequest(url, 'POST /v1/completions HTTP/1.1\nhost: x\nx-request-id: rid-resp', JSON.stringify({ model: 'fake', prompt: 'x' }));
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json(), { ok: true });
      assert.equal(res.headers['x-end-to-end'], 'kept');
      assert.equal(res.headers['x-request-id'], 'rid-resp');
      for (const name of ['x-resp-hop', 'proxy-authenticate']) assert.equal(res.headers[name], undefined, name);
      assert.doesNotMatch(res.headers['keep-alive'] ?? '', /max=99/);
      assert.doesNotMatch(res.headers.connection ?? '', /x-resp-hop/i);
    });
  });
});
