// The request pipeline's filter stages with test filters: a client that leaves while its request waits in a stage
// (admission, authentication) is dropped at once and never dispatched; a waiting stream gets SSE heartbeats and then
// its answer, or one SSE error event; 401 and 503 queue_timeout answers; the access log's user and queue_ms.
import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { RouterError } from '../../src/errors/router-error.ts';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { RequestRecord } from '../../src/observability/request-record.ts';
import type { Admission, AdmissionRequest, AdmissionTicket, AuthResult, Authenticator } from '../../src/pipeline/filters.ts';
import { deadPort } from '../support/proxy-fixtures.ts';
import { createEnv, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';

/** Admits at once while open; otherwise holds requests until the test lets them go, times them out, or they abort. */
class TestAdmission implements Admission {
  readonly active = true;
  open = true;
  readonly held: { request: AdmissionRequest; settle: (result: AdmissionTicket | RouterError) => void }[] = [];
  aborted = 0;
  /** Hear the abort but do not settle (a late grant: the pipeline must give the ticket back). */
  ignoreAbort = false;
  released: ({ inputTokens: number; outputTokens: number } | null)[] = [];

  admit(request: AdmissionRequest, signal: AbortSignal): AdmissionTicket | Promise<AdmissionTicket | RouterError> {
    if (this.open) return this.ticket();
    return new Promise((settle) => {
      this.held.push({ request, settle });
      signal.addEventListener('abort', () => {
        this.aborted++;
        if (!this.ignoreAbort) settle(new RouterError('queue_timeout', 'client gone'));
      });
    });
  }

  keysOf(identityUser: string | null): { user: string; sessionKey: string | null } {
    return { user: identityUser ?? '', sessionKey: null };
  }

  ticket(): AdmissionTicket {
    return { release: (usage) => this.released.push(usage) };
  }
}

/** "Bearer good-*" names a user; "Bearer slow" waits (like a JWKS fetch) until the test lets it go; others are refused. */
class TestAuthenticator implements Authenticator {
  slow: (() => void)[] = [];
  aborted = 0;

  authenticate(rawHeaders: readonly string[], signal: AbortSignal): AuthResult | Promise<AuthResult> {
    const at = rawHeaders.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'authorization');
    if (at < 0) return null;
    const token = rawHeaders[at + 1].replace(/^Bearer /, '');
    if (token.startsWith('good-')) return { user: token.slice(5), method: 'api-key' };
    if (token === 'slow') {
      return new Promise((resolve) => {
        this.slow.push(() => resolve({ user: 'slow', method: 'jwt' }));
        signal.addEventListener('abort', () => this.aborted++);
      });
    }
    return new RouterError('unauthorized', 'invalid API key');
  }
}

interface Streamed {
  readonly req: ClientRequest;
  readonly response: Promise<IncomingMessage>;
  text: string;
  readonly ended: Promise<void>;
}

/** A raw POST whose response text accumulates as it arrives. */
function send(router: RouterApp, body: object, headers: Record<string, string> = {}): Streamed {
  const payload = JSON.stringify(body);
  const req = httpRequest(`${router.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } });
  req.on('error', () => undefined);
  const streamed = { req, text: '' } as { req: ClientRequest; text: string; response: Promise<IncomingMessage>; ended: Promise<void> };
  streamed.response = new Promise((resolve) => req.on('response', resolve));
  streamed.ended = streamed.response.then((res) => new Promise<void>((resolve) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (streamed.text += chunk));
    res.on('end', resolve);
    res.on('error', () => resolve());
  }));
  req.end(payload);
  return streamed;
}

const HELLO = { model: 'm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 3 };

describe('request pipeline: waiting stages', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mock: MockEngineHandle;
  const admission = new TestAdmission();
  const authenticator = new TestAuthenticator();
  const records: RequestRecord[] = [];

  before(async () => {
    env = await createEnv();
    mock = await startMock(env, { model: 'm' });
    await writeYaml(env, 'config.yaml', [
      modelServer('ms', { app: 'm' }), podStub('m-0', 'm', mock.port), simpleRoute('r', 'm', 'ms'),
      modelServer('gone', { app: 'gone', model: 'm' }), podStub('gone-0', 'gone', await deadPort()), simpleRoute('r-gone', 'gone-model', 'gone'),
    ]);
    router = await startRouter(env, {
      admission, authenticator, queueHeartbeatMs: 20, onRequestDone: (r) => records.push(r),
      accessLog: { output: join(env.dir, 'access.log'), format: 'json' },
    });
  });
  after(() => env.cleanup());
  /** The last request's record: a queued stream is logged with the 200 its client saw, and why it failed. */
  const expectRecorded = async (status: number, code: string): Promise<RequestRecord> => {
    await waitFor(() => records.at(-1)?.error?.code === code, 5000, `a record with ${code}`);
    const record = records.at(-1)!;
    assert.equal(record.status, status);
    return record;
  };
  beforeEach(async () => {
    admission.open = true;
    admission.ignoreAbort = false;
    admission.held.length = 0;
    await post(`${mock.url}/mock/reset`, {});
  });

  it('a client that leaves while its request waits for admission is dropped at once and never dispatched', async () => {
    admission.open = false;
    admission.ignoreAbort = true;
    const before = records.length;
    const waiting = send(router, HELLO);
    await waitFor(() => admission.held.length === 1, 5000, 'the request to wait for admission');
    waiting.req.destroy();
    await waitFor(() => records.length > before, 5000, 'the request to end');
    const record = records.at(-1)!;
    assert.equal(record.status, 0, 'ended as abandoned by its client');
    assert.equal(record.scheduled, null, 'never scheduled');
    assert.equal(admission.aborted, 1, "the admission heard the client's abort");
    // Even if the queue lets it go now, it is never dispatched.
    admission.held[0].settle(admission.ticket());
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await mockStats(mock)).received, 0, 'the engine never saw it');
    assert.deepEqual(admission.released.at(-1), null, 'a late ticket is given back');
  });

  it('a client that leaves while authentication waits (a JWKS fetch) is never dispatched', async () => {
    const before = records.length;
    const waiting = send(router, HELLO, { authorization: 'Bearer slow' });
    await waitFor(() => authenticator.slow.length === 1, 5000, 'authentication to wait');
    waiting.req.destroy();
    await waitFor(() => records.length > before, 5000, 'the request to end');
    assert.equal(authenticator.aborted, 1);
    authenticator.slow.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await mockStats(mock)).received, 0, 'the engine never saw it');
    // The same waiting authenticator, with a client that stays: answered.
    const stays = send(router, HELLO, { authorization: 'Bearer slow' });
    await waitFor(() => authenticator.slow.length === 1, 5000, 'authentication to wait');
    authenticator.slow.shift()!();
    assert.equal((await stays.response).statusCode, 200);
    await stays.ended;
    assert.equal((await mockStats(mock)).received, 1);
  });

  it('a stream waiting for admission gets SSE heartbeats, then its answer in the same stream', async () => {
    admission.open = false;
    const streamed = send(router, { ...HELLO, stream: true });
    const res = await streamed.response; // the heartbeats opened the stream
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    await waitFor(() => streamed.text.includes(': queued\n\n'), 5000, 'a heartbeat');
    admission.held[0].settle(admission.ticket());
    await streamed.ended;
    assert.match(streamed.text, /data: \{.*"chat.completion.chunk"/);
    assert.match(streamed.text, /data: \[DONE\]\n\n$/);
    assert.equal((await mockStats(mock)).received, 1);
    assert.ok(admission.released.at(-1) !== null, 'the ticket came back with the usage');
  });

  it('a stream that times out in the queue after heartbeats ends with one SSE error event', async () => {
    admission.open = false;
    const streamed = send(router, { ...HELLO, stream: true });
    await waitFor(() => streamed.text.includes(': queued'), 5000, 'a heartbeat');
    admission.held[0].settle(new RouterError('queue_timeout', 'waited 60 s in the queue'));
    await streamed.ended;
    const events = streamed.text.split('\n\n').filter((e) => e.startsWith('data: '));
    assert.equal(events.length, 1, streamed.text);
    assert.equal((JSON.parse(events[0].slice(6)) as { error: { code: string } }).error.code, 'queue_timeout');
    assert.equal((await mockStats(mock)).received, 0);
    await expectRecorded(200, 'queue_timeout');
  });

  it('a queued stream whose pods cannot be reached ends with one SSE error event', async () => {
    admission.open = false;
    const streamed = send(router, { ...HELLO, model: 'gone-model', stream: true });
    await waitFor(() => streamed.text.includes(': queued'), 5000, 'a heartbeat');
    admission.held[0].settle(admission.ticket());
    await streamed.ended;
    const events = streamed.text.split('\n\n').filter((e) => e.startsWith('data: '));
    assert.equal(events.length, 1, streamed.text);
    assert.equal((JSON.parse(events[0].slice(6)) as { error: { code: string } }).error.code, 'upstream_unavailable');
    await expectRecorded(200, 'upstream_unavailable');
  });

  it('a queued stream whose pod answers an error gets it as one SSE error event', async () => {
    admission.open = false;
    await post(`${mock.url}/mock/faults`, { status: 400, body: '{"error":"max_tokens is too large"}' });
    const streamed = send(router, { ...HELLO, stream: true });
    await waitFor(() => streamed.text.includes(': queued'), 5000, 'a heartbeat');
    admission.held[0].settle(admission.ticket());
    await streamed.ended;
    const events = streamed.text.split('\n\n').filter((e) => e.startsWith('data: '));
    assert.equal(events.length, 1, streamed.text);
    const error = (JSON.parse(events[0].slice(6)) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'upstream_status_400');
    assert.match(error.message, /max_tokens is too large/);
    const record = await expectRecorded(200, 'upstream_stream_error');
    assert.equal(record.outcome?.upstreamStatus, 400);
  });

  it('queue_timeout without a stream is 503 with Retry-After', async () => {
    admission.open = false;
    const pending = post(`${router.url}/v1/chat/completions`, HELLO);
    await waitFor(() => admission.held.length === 1, 5000, 'the request to wait');
    admission.held[0].settle(new RouterError('queue_timeout', 'waited 60 s in the queue'));
    const res = await pending;
    assert.equal(res.status, 503);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'queue_timeout');
    assert.equal(res.headers['retry-after'], '1');
  });

  it('401 with WWW-Authenticate for a refused credential; the user and queue time are logged, never the token', async () => {
    const refused = await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer nope' });
    assert.equal(refused.status, 401);
    assert.equal((refused.json() as { error: { code: string } }).error.code, 'unauthorized');
    assert.match(String(refused.headers['www-authenticate']), /^Bearer/);
    const ok = await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer good-alice', 'x-request-id': 'alice-1' });
    assert.equal(ok.status, 200);
    await waitFor(async () => (await readFile(join(env.dir, 'access.log'), 'utf8')).includes('"alice-1"'), 5000, 'the access log line');
    const line = (await readFile(join(env.dir, 'access.log'), 'utf8')).split('\n').find((l) => l.includes('"alice-1"'))!;
    const entry = JSON.parse(line) as { user?: string; queue_ms?: number };
    assert.equal(entry.user, 'alice');
    assert.equal(typeof entry.queue_ms, 'number');
    assert.doesNotMatch(line, /good-alice/);
    assert.equal(admission.held.at(-1)?.request.user ?? 'alice', 'alice');
  });
});
