// Errors the router produces itself: OpenAI-style JSON with the right status and code, the request id on every one
// of them, and no crash whatever arrives on the socket.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { RouterApp } from '../../src/cli/router-app.ts';
import { client, createEnv, get, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { podYaml, startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { rawRequest } from '../support/raw-http.ts';

const BASE = 'base-model';
const LIMIT = 64 * 1024;

/** Asserts an OpenAI-style router error and returns it. */
function assertRouterError(res: { status: number; headers: Record<string, unknown>; text: string }, status: number, code: string) {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.text) as { error: { message: unknown; type: unknown; code: unknown } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok((body.error.message as string).length > 0);
  assert.equal(typeof body.error.type, 'string');
  const requestId = res.headers['x-request-id'];
  assert.ok(typeof requestId === 'string' && requestId.length > 0, 'the error carries an x-request-id');
  return body.error as { message: string; type: string; code: string };
}

describe('router errors', () => {
  let env: TestEnv;
  let router: RouterApp;
  let url: string;
  let mock: MockEngineHandle;
  let fake: FakePod;

  before(async () => {
    env = await createEnv();
    mock = await startMock(env, { model: BASE, instanceName: 'base-0' });
    fake = await startFakePod('fake');
    await writeYaml(env, 'config.yaml', [
      modelServer('base', { model: BASE }),
      podStub('base-0', 'base', mock.port),
      simpleRoute('chat', 'chat', 'base'),
      // No spec.model: the body reaches the fake pod byte for byte.
      modelServer('raw'),
      podStub('raw-0', 'raw', fake.port),
      simpleRoute('raw', 'raw', 'raw'),
      simpleRoute('ghost', 'ghost', 'missing-server'),
      modelServer('idle', { model: BASE }),
      podYaml('idle-pending', 'idle', mock.port, { ip: '127.0.0.1', phase: 'Pending' }),
      podYaml('idle-unready', 'idle', mock.port, { ip: '127.0.0.1', phase: 'Running', ready: false }),
      podYaml('idle-no-ip', 'idle', mock.port, {}),
      simpleRoute('idle', 'idle', 'idle'),
    ]);
    router = await startRouter(env, { maxBodyBytes: LIMIT, allowPaths: ['/v1/files/a.b..c/.x'] });
    url = router.url;
  });
  after(async () => {
    await env.cleanup();
    await fake.close();
  });

  describe('request body and model', () => {
    it('answers 400 when the body is not JSON', async () => {
      for (const body of ['{"model": "chat",', 'model=chat', '{model: "chat"}', '\u00ef\u00bb\u00bf']) {
        const err = assertRouterError(await post(`${url}/v1/completions`, body), 400, 'invalid_json');
        assert.equal(err.type, 'invalid_request_error');
      }
    });

    it('answers 400 when the body is JSON but not an object', async () => {
      for (const body of ['[]', '[{"model":"chat"}]', '"chat"', '42', 'null', 'true']) {
        assertRouterError(await post(`${url}/v1/completions`, body), 400, 'invalid_body');
      }
    });

    it('answers 400 when the body is empty', async () => {
      assertRouterError(await post(`${url}/v1/completions`, ''), 400, 'invalid_json');
      assertRouterError(await rawRequest(url, `POST /v1/chat/completions HTTP/1.1\nhost: x\ncontent-length: 0`), 400, 'invalid_json');
    });

    it('answers 400 when model is missing, not a string or blank', async () => {
      const before = (await mockStats(mock)).received;
      const bodies: object[] = [{}, { prompt: 'x' }, { model: 42 }, { model: ['chat'] }, { model: null }, { model: { name: 'chat' } }, { model: true }, { model: '' }, { model: '   ' }, { model: '\t\n' }];
      for (const body of bodies) {
        const err = assertRouterError(await post(`${url}/v1/completions`, body), 400, 'model_required');
        assert.match(err.message, /model/);
      }
      assert.equal((await mockStats(mock)).received, before, 'nothing reached the pod');
    });

    it('answers 404 model_not_found for a model no route serves, also to the openai client', async () => {
      const res = await post(`${url}/v1/chat/completions`, { model: 'no-such-model', messages: [] });
      const err = assertRouterError(res, 404, 'model_not_found');
      assert.match(err.message, /no-such-model/);
      // Model names match exactly: no trimming, no case folding.
      assertRouterError(await post(`${url}/v1/completions`, { model: ' chat', prompt: 'x' }), 404, 'model_not_found');
      assertRouterError(await post(`${url}/v1/completions`, { model: 'CHAT', prompt: 'x' }), 404, 'model_not_found');
      await assert.rejects(
        client(router).completions.create({ model: 'no-such-model', prompt: 'x' }),
        (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found',
      );
    });

    it('answers 404 when the route names a ModelServer that does not exist', async () => {
      const err = assertRouterError(await post(`${url}/v1/completions`, { model: 'ghost', prompt: 'x' }), 404, 'model_server_not_found');
      assert.match(err.message, /missing-server/);
    });

    it('answers 503 when the ModelServer has no ready pod', async () => {
      const before = (await mockStats(mock)).received;
      const err = assertRouterError(await post(`${url}/v1/completions`, { model: 'idle', prompt: 'x' }), 503, 'no_ready_pods');
      assert.equal(err.type, 'server_error');
      assert.equal((await mockStats(mock)).received, before, 'the not-ready pods got nothing');
    });
  });

  describe('request id on router errors', () => {
    it('returns the x-request-id the client sent', async () => {
      const res = await post(`${url}/v1/completions`, { model: 'no-such-model' }, { 'x-request-id': 'client-id-123' });
      assertRouterError(res, 404, 'model_not_found');
      assert.equal(res.headers['x-request-id'], 'client-id-123');
      const bad = await post(`${url}/v1/completions`, 'not json', { 'x-request-id': 'client-id-456' });
      assert.equal(bad.headers['x-request-id'], 'client-id-456');
    });

    it('generates a different id per request when the client sent none', async () => {
      const a = await post(`${url}/v1/completions`, { model: 'no-such-model' });
      const b = await post(`${url}/v1/completions`, { model: 'no-such-model' });
      assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
      for (const id of [a.headers['x-request-id'], b.headers['x-request-id']]) {
        assert.match(String(id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'shaped like a UUID');
      }
    });
  });

  describe('request body limit', () => {
    const padded = (size: number): string => {
      const head = '{"model":"chat","prompt":"x"';
      return `${head}${' '.repeat(size - head.length - 1)}}`;
    };

    it('answers 413 when content-length is above the limit', async () => {
      const res = await post(`${url}/v1/completions`, padded(LIMIT + 1), { 'x-request-id': 'too-big' });
      const err = assertRouterError(res, 413, 'request_too_large');
      assert.equal(res.headers['x-request-id'], 'too-big');
      assert.match(err.message, new RegExp(String(LIMIT)));
    });

    it('answers 413 when a chunked body grows above the limit', async () => {
      const big = Buffer.from(padded(LIMIT * 2));
      const head = 'POST /v1/completions HTTP/1.1\nhost: x\ncontent-type: application/json\ntransfer-encoding: chunked';
      const chunked = Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')]);
      assertRouterError(await rawRequest(url, head, chunked), 413, 'request_too_large');
    });

    it('accepts a body of exactly the limit', async () => {
      const res = await post(`${url}/v1/completions`, padded(LIMIT));
      assert.equal(res.status, 200, res.text);
      assert.equal(((await mockStats(mock)).lastRequest?.body as { model?: string } | undefined)?.model, BASE);
    });
  });

  describe('garbage in, no crash', () => {
    it('refuses GET on an inference path with a clear JSON error', async () => {
      const res = await get(`${url}/v1/completions`);
      const err = assertRouterError(res, 405, 'method_not_allowed');
      assert.match(err.message, /POST/);
    });

    it('answers 404, not "inference endpoints take POST", under /v1/responses/ where no stored-response endpoint is', async () => {
      for (const path of ['/v1/responses/resp_1/', '/v1/responses/resp_1/unknown', '/v1/responses/resp_1/cancel/x']) {
        const err = assertRouterError(await get(`${url}${path}`), 404, 'not_found');
        assert.equal(err.message, `no route for GET ${path}`);
      }
      const wrong = await rawRequest(url, 'PUT /v1/responses/resp_1 HTTP/1.1\nhost: x', '{}');
      assertRouterError(wrong, 405, 'method_not_allowed');
      assert.equal(wrong.headers.allow, 'GET, DELETE');
    });

    it('names the allowed methods in 405s, and answers HEAD where GET works', async () => {
      const put = await rawRequest(url, 'PUT /v1/chat/completions HTTP/1.1\nhost: x', '{}');
      assertRouterError(put, 405, 'method_not_allowed');
      assert.equal(put.headers.allow, 'POST');
      const remove = await rawRequest(url, 'DELETE /v1/models/chat HTTP/1.1\nhost: x');
      assertRouterError(remove, 405, 'method_not_allowed');
      assert.equal(remove.headers.allow, 'GET, HEAD');
      const head = await rawRequest(url, 'HEAD /v1/models HTTP/1.1\nhost: x\nconnection: close');
      assert.equal(head.status, 200);
      assert.match(String(head.headers['content-type']), /^application\/json/);
      assert.equal(head.text, '');
      // The model list carries a request id like every other answer: the client's, else a new one.
      const listed = await rawRequest(url, 'GET /v1/models HTTP/1.1\nhost: x\nx-request-id: list-1\nconnection: close');
      assert.equal(listed.headers['x-request-id'], 'list-1');
      // Sent twice (Node joins them as "a, b"): the first is the request's id, upstream and back.
      const twice = await rawRequest(url, 'POST /v1/chat/completions HTTP/1.1\nhost: x\nx-request-id: first-id\nx-request-id: second-id\ncontent-type: application/json\nconnection: close', '{"model":"no-such-model","messages":[]}');
      assert.equal(twice.headers['x-request-id'], 'first-id');
      const one = await rawRequest(url, 'GET /v1/models/chat HTTP/1.1\nhost: x\nconnection: close');
      assert.match(String(one.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });

    it('answers requests without exactly one Host, unknown expectations and CONNECT with JSON errors', async () => {
      const body = '{"model":"chat","messages":[]}';
      assertRouterError(await rawRequest(url, 'POST /v1/chat/completions HTTP/1.1\nconnection: close', body), 400, 'bad_request');
      assertRouterError(await rawRequest(url, 'POST /v1/chat/completions HTTP/1.1\nhost: a\nhost: b\nconnection: close', body), 400, 'bad_request');
      assertRouterError(await rawRequest(url, 'GET /v1/models HTTP/1.1\nconnection: close'), 400, 'bad_request');
      // HTTP/1.0 needs no Host.
      assert.equal((await rawRequest(url, 'GET /v1/models HTTP/1.0')).status, 200);
      assertRouterError(await rawRequest(url, 'POST /v1/chat/completions HTTP/1.1\nhost: x\nexpect: something-else', body), 417, 'expectation_failed');
      const connect = await rawRequest(url, 'CONNECT 127.0.0.1:1 HTTP/1.1\nhost: 127.0.0.1:1');
      assertRouterError(connect, 405, 'method_not_allowed');
      assert.equal(connect.headers.allow, 'GET, HEAD, POST');
    });

    it('serves a request target in absolute form as its path; a path that does not percent-decode is 400', async () => {
      const absolute = await rawRequest(url, 'POST http://router.example:8080/v1/chat/completions HTTP/1.1\nhost: router.example:8080\ncontent-type: application/json', '{"model":"no-such-model","messages":[]}');
      assertRouterError(absolute, 404, 'model_not_found');
      const models = await rawRequest(url, 'GET HTTP://router.example/v1/models HTTP/1.1\nhost: router.example\nconnection: close');
      assert.equal(models.status, 200, models.text);
      assertRouterError(await rawRequest(url, 'POST /v1/chat/%zz HTTP/1.1\nhost: x', '{"model":"chat"}'), 400, 'bad_request');
      assertRouterError(await rawRequest(url, 'POST /v1/chat/%63ompletions HTTP/1.1\nhost: x', '{"model":"chat"}'), 404, 'not_found');
    });

    it('answers 404 JSON on unknown paths outside /v1', async () => {
      for (const [method, path] of [['GET', '/'], ['GET', '/nope'], ['POST', '/completions'], ['DELETE', '/v2/chat/completions']]) {
        const res = await rawRequest(url, `${method} ${path} HTTP/1.1\nhost: x\ncontent-type: application/json`, '{"model":"chat"}');
        assertRouterError(res, 404, 'not_found');
      }
    });

    it('does not forward paths that climb out of /v1', async () => {
      const before = fake.requests.length;
      for (const path of ['/v1/../health', '/v1/%2e%2E/metrics', '/v1/./completions', '/v1/chat/..', '/v1/x/.%2e/../sleep?level=1']) {
        const res = await rawRequest(url, `POST ${path} HTTP/1.1\nhost: x\ncontent-type: application/json`, '{"model":"raw"}');
        assertRouterError(res, 404, 'not_found');
      }
      assert.equal(fake.requests.length, before, 'the pod got none of them');
      const dotted = await rawRequest(url, 'POST /v1/files/a.b..c/.x HTTP/1.1\nhost: x', '{"model":"raw"}');
      assert.equal(dotted.status, 200, 'dots inside a segment are fine (on a path the operator allowed)');
      assert.equal(fake.requests.at(-1)?.path, '/v1/files/a.b..c/.x');
    });

    it('handles invalid UTF-8 without crashing', async () => {
      const inModel = Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","prompt":"x"}')]);
      assertRouterError(await post(`${url}/v1/completions`, inModel.toString('latin1')), 404, 'model_not_found');
      const head = 'POST /v1/completions HTTP/1.1\nhost: x\ncontent-type: application/json';
      assertRouterError(await rawRequest(url, head, inModel), 404, 'model_not_found');
      assertRouterError(await rawRequest(url, head, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 400, 'invalid_json');
      // Invalid bytes inside a string the router does not look at go to the pod untouched.
      const inPrompt = Buffer.concat([Buffer.from('{"model":"raw","prompt":"'), Buffer.from([0xff, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('"}')]);
      const res = await rawRequest(url, head, inPrompt);
      assert.equal(res.status, 200, res.text);
      assert.equal(fake.requests.at(-1)?.body, inPrompt.toString('utf8'));
    });

    it('forwards deeply nested JSON and refuses it when unterminated', async () => {
      const depth = 20_000; // stays below the 64 KiB limit
      const deep = `{"model":"raw","prompt":"x","extra":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const res = await post(`${url}/v1/completions`, deep);
      assert.equal(res.status, 200, res.text);
      assert.equal(fake.requests.at(-1)?.body, deep, 'forwarded byte for byte');
      // A stream makes the router edit stream_options; deep nesting elsewhere or inside it must not break that.
      const nested = `${'{"a":'.repeat(depth / 4)}1${'}'.repeat(depth / 4)}`;
      const streamed = `{"model":"raw","prompt":"x","stream":true,"extra":${nested}}`;
      const res2 = await post(`${url}/v1/completions`, streamed);
      assert.equal(res2.status, 200, res2.text);
      assert.equal(fake.requests.at(-1)?.body, `${streamed.slice(0, -1)},"stream_options":{"include_usage":true}}`);
      const inOptions = `{"model":"raw","prompt":"x","stream":true,"stream_options":{"deep":${nested}}}`;
      const res3 = await post(`${url}/v1/completions`, inOptions);
      assert.equal(res3.status, 200, res3.text);
      assert.equal(fake.requests.at(-1)?.body, `{"model":"raw","prompt":"x","stream":true,"stream_options":{"deep":${nested},"include_usage":true}}`);
      assertRouterError(await post(`${url}/v1/completions`, `{"model":"chat","x":${'['.repeat(depth)}`), 400, 'invalid_json');
    });

    it('routes a JSON body whatever content-type it is sent with', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', '']) {
        const head = `POST /v1/completions HTTP/1.1\nhost: x${type === '' ? '' : `\ncontent-type: ${type}`}`;
        const res = await rawRequest(url, head, JSON.stringify({ model: 'chat', prompt: 'x' }));
        assert.equal(res.status, 200, `${type}: ${res.text}`);
      }
      assertRouterError(await post(`${url}/v1/completions`, 'model=chat&prompt=x', { 'content-type': 'application/x-www-form-urlencoded' }), 400, 'invalid_json');
    });

    it('answers a malformed request line with 400 and keeps serving', async () => {
      const res = await rawRequest(url, 'THIS IS NOT HTTP');
      assert.equal(res.status, 400);
      const ok = await post(`${url}/v1/completions`, { model: 'chat', prompt: 'x' });
      assert.equal(ok.status, 200, ok.text);
    });

    it('survives a client that disconnects mid-body', async () => {
      const { connect } = await import('node:net');
      const { hostname, port } = new URL(url);
      const socket = connect({ host: hostname, port: Number(port) });
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write('POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":"chat"');
      await new Promise((r) => setTimeout(r, 50));
      socket.destroy();
      const ok = await post(`${url}/v1/completions`, { model: 'chat', prompt: 'x' });
      assert.equal(ok.status, 200, ok.text);
    });
  });
});

describe('default body limit', () => {
  let env: TestEnv;
  let router: RouterApp;

  before(async () => {
    env = await createEnv();
    const mock = await startMock(env, { model: BASE });
    await writeYaml(env, 'config.yaml', [modelServer('base', { model: BASE }), podStub('base-0', 'base', mock.port), simpleRoute('chat', 'chat', 'base')]);
    router = await startRouter(env);
  });
  after(() => env.cleanup());

  it('refuses a body above 16 MiB with 413 and accepts a 1 MiB prompt', async () => {
    const prompt = 'word '.repeat(16 * 1024 * 1024 / 5 + 1);
    assertRouterError(await post(`${router.url}/v1/completions`, { model: 'chat', prompt }), 413, 'request_too_large');
    const ok = await post(`${router.url}/v1/completions`, { model: 'chat', prompt: prompt.slice(0, 1024 * 1024), max_tokens: 1 });
    assert.equal(ok.status, 200, ok.text.slice(0, 200));
  });
});
