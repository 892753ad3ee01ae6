// Request and process lifecycle: health endpoints, client disconnects cancelling upstream work, and graceful drain,
// in-process (RouterApp.shutdown) and as a real `switchyard serve` subprocess receiving SIGTERM/SIGINT.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { RequestRecord } from '../../src/observability/request-record.ts';
import {
  createEnv, get, mockFault, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv,
} from '../support/harness.ts';
import { killAll, openStream, startServe, tokenEvents, type CliProcess } from '../support/process.ts';
import { writeRouterConfig } from '../support/scheduling.ts';

const words = (n: number): string => Array.from({ length: n }, (_, i) => `t${i}`).join(' ');

/** A mock answering in echo mode (one token per prompt word) behind model "echo". */
async function echoEnv(itlMs: number): Promise<{ env: TestEnv; mock: MockEngineHandle }> {
  const env = await createEnv();
  const mock = await startMock(env, { model: 'echo-upstream', mode: 'echo', itlMs });
  await writeYaml(env, 'echo.yaml', [
    modelServer('echo-srv', { model: 'echo-upstream' }),
    podStub('echo-0', 'echo-srv', mock.port),
    simpleRoute('echo', 'echo', 'echo-srv'),
  ]);
  return { env, mock };
}


describe('lifecycle (in-process router)', () => {
  const envs: TestEnv[] = [];
  after(() => Promise.all(envs.map((e) => e.cleanup())));
  const setUp = async (itlMs: number): Promise<{ router: RouterApp; mock: MockEngineHandle; env: TestEnv }> => {
    const { env, mock } = await echoEnv(itlMs);
    envs.push(env);
    return { router: await startRouter(env), mock, env };
  };

  it('answers /healthz and /readyz once the configuration is loaded', async () => {
    const { router } = await setUp(0);
    const health = await get(`${router.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    const ready = await get(`${router.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json(), { status: 'ready' });
  });

  it('a client leaving a slow stream cancels the upstream request at once', async () => {
    const { router, mock } = await setUp(50);
    const stream = await openStream(`${router.url}/v1/completions`, { model: 'echo', prompt: words(200), max_tokens: 200 });
    assert.equal(stream.status, 200);
    await stream.firstEvent;
    assert.equal((await mockStats(mock)).inFlight, 1);
    stream.abort();
    // The stream would run 10 s; the upstream must see the cancellation long before.
    await waitFor(async () => {
      const s = await mockStats(mock);
      return s.cancelled === 1 && s.inFlight === 0;
    }, 3000, 'upstream cancellation');
    const stats = await mockStats(mock);
    assert.equal(stats.completed, 0);
    await waitFor(() => router.server.activeRequests === 0, 3000, 'router request closed');
  });

  it('a client leaving a non-streaming request that waits for headers cancels it upstream', async () => {
    const { router, mock } = await setUp(0);
    await mockFault(mock, { headerDelayMs: 10_000 });
    const controller = new AbortController();
    const pending = request(`${router.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'echo', prompt: 'hello' }),
      signal: controller.signal,
    });
    await waitFor(async () => (await mockStats(mock)).inFlight === 1, 3000, 'the request reaching the mock');
    controller.abort();
    await assert.rejects(pending);
    await waitFor(async () => {
      const s = await mockStats(mock);
      return s.cancelled === 1 && s.inFlight === 0;
    }, 3000, 'upstream cancellation');
    assert.equal((await mockStats(mock)).completed, 0);
  });

  it('shutdown answers readiness 503 and refuses new requests, lets an open stream finish with all its tokens, then resolves true', async () => {
    const { router, env } = await setUp(40);
    const stream = await openStream(`${router.url}/v1/completions`, { model: 'echo', prompt: words(40), max_tokens: 40 });
    await stream.firstEvent;
    const drained = router.shutdown(10_000);
    env.router = null;
    let finished = false;
    void stream.done.then(() => (finished = true));
    const ready = await get(`${router.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.json(), { status: 'draining' });
    const refused = await post(`${router.url}/v1/completions`, { model: 'echo', prompt: 'late' });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal((refused.json() as { error: { code: string } }).error.code, 'draining');
    assert.equal(finished, false, 'readiness and new requests were answered while the stream was still running');
    const result = await stream.done;
    assert.equal(result.error, null);
    assert.equal(result.sawDone, true);
    assert.equal(tokenEvents(result), 40);
    assert.equal(result.text, words(40));
    assert.equal(await drained, true);
  });

  it('shutdown: requests refused with 503 draining are in the access log, each once with its id and the status its client saw', async () => {
    const { env, mock } = await echoEnv(40);
    envs.push(env);
    const records: RequestRecord[] = [];
    const router = await startRouter(env, { onRequestDone: (record) => records.push(record) });
    const stream = await openStream(`${router.url}/v1/completions`, { model: 'echo', prompt: words(40), max_tokens: 40 });
    await stream.firstEvent;
    const drained = router.shutdown(10_000);
    env.router = null;
    const ids = ['late-1', 'late-2', 'late-3'];
    const refused = await Promise.all(ids.map((id) => post(`${router.url}/v1/chat/completions?x=1`, { model: 'echo', messages: [] }, { 'x-request-id': id })));
    for (const answer of refused) assert.equal(answer.status, 503);
    assert.deepEqual(refused.map((a) => a.headers['x-request-id']), ids);
    assert.equal((await stream.done).sawDone, true);
    assert.equal(await drained, true);
    for (const id of ids) {
      const logged = records.filter((r) => r.requestId === id);
      assert.equal(logged.length, 1, `${id} is in the access log once`);
      assert.equal(logged[0].status, 503);
      assert.equal(logged[0].error?.code, 'draining');
      assert.equal(logged[0].path, '/v1/chat/completions');
    }
    assert.equal((await mockStats(mock)).completed, 1, 'only the open stream reached the pod');
  });

  it('shutdown with a drain timeout: a stream queued for admission (heartbeats sent) ends with draining and is never dispatched', async () => {
    const { env, mock } = await echoEnv(50);
    envs.push(env);
    const records: RequestRecord[] = [];
    const routerConfigFile = await writeRouterConfig(env, 'fairness:\n  mode: fairness\n  maxConcurrent: 1\n');
    const router = await startRouter(env, { routerConfigFile, queueHeartbeatMs: 20, onRequestDone: (record) => records.push(record) });
    const running = await openStream(`${router.url}/v1/completions`, { model: 'echo', prompt: words(200), max_tokens: 200 });
    await running.firstEvent;
    // Its status line and heartbeats are out: the queued request is an open stream.
    const queued = await openStream(`${router.url}/v1/completions`, { model: 'echo', prompt: 'queued' }, { 'x-request-id': 'queued-1' });
    assert.equal(queued.status, 200);
    env.router = null;
    assert.equal(await router.shutdown(200), false);
    const result = await queued.done;
    assert.deepEqual(result.events.map((e) => (JSON.parse(e) as { error?: { code: string } }).error?.code), ['draining']);
    await running.done;
    const logged = records.filter((r) => r.requestId === 'queued-1');
    assert.equal(logged.length, 1);
    assert.equal(logged[0].error?.code, 'draining', `logged as ${logged[0].error?.code}`);
    assert.equal(logged[0].scheduled, null, 'never scheduled');
    assert.equal((await mockStats(mock)).received, 1, 'only the running stream reached the pod');
  });

  it('shutdown with a drain timeout shorter than the stream cuts it and resolves false', async () => {
    const { router, env, mock } = await setUp(50);
    const stream = await openStream(`${router.url}/v1/completions`, { model: 'echo', prompt: words(200), max_tokens: 200 });
    await stream.firstEvent;
    env.router = null;
    assert.equal(await router.shutdown(200), false);
    const result = await stream.done;
    assert.equal(result.sawDone, false, 'the stream was cut');
    assert.ok(tokenEvents(result) < 200);
    await waitFor(async () => (await mockStats(mock)).inFlight === 0, 3000, 'upstream request ended');
    assert.equal((await mockStats(mock)).cancelled, 1);
  });

  it('shutdown with a drain timeout: a request still waiting for its pod gets the 503 draining that the access log records', async () => {
    const { env, mock } = await echoEnv(0);
    envs.push(env);
    const records: RequestRecord[] = [];
    const router = await startRouter(env, { onRequestDone: (record) => records.push(record) });
    await mockFault(mock, { headerDelayMs: 10_000 });
    const pending = post(`${router.url}/v1/completions`, { model: 'echo', prompt: 'hello' }, { 'x-request-id': 'waiting-1' });
    await waitFor(async () => (await mockStats(mock)).inFlight === 1, 3000, 'the request reaching the mock');
    env.router = null;
    assert.equal(await router.shutdown(200), false);
    const answer = await pending;
    assert.equal(answer.status, 503, 'an answer, not a closed connection');
    assert.equal(answer.headers['retry-after'], '1');
    assert.equal(answer.headers['x-request-id'], 'waiting-1');
    assert.equal((answer.json() as { error: { code: string } }).error.code, 'draining');
    const record = records.find((r) => r.requestId === 'waiting-1');
    assert.equal(record?.status, 503);
    assert.equal(record?.error?.code, 'draining');
    await waitFor(async () => (await mockStats(mock)).inFlight === 0, 3000, 'upstream request cancelled');
  });
});

describe('lifecycle (switchyard serve subprocess)', () => {
  const envs: TestEnv[] = [];
  after(async () => {
    await killAll();
    await Promise.all(envs.map((e) => e.cleanup()));
  });
  const serve = async (itlMs: number, drainTimeout: string): Promise<{ proc: CliProcess; url: string; mock: MockEngineHandle }> => {
    const { env, mock } = await echoEnv(itlMs);
    envs.push(env);
    const { proc, url } = await startServe(['--config', env.dir, '--drain-timeout', drainTimeout]);
    return { proc, url, mock };
  };

  it('SIGTERM: readiness 503 while draining, finishes the open stream, exits 0', async () => {
    const { proc, url } = await serve(50, '20s');
    assert.equal((await get(`${url}/readyz`)).status, 200);
    assert.equal((await get(`${url}/healthz`)).status, 200);
    // 60 tokens 50 ms apart: the stream outlasts the signal handling by far, even on a loaded machine.
    const stream = await openStream(`${url}/v1/chat/completions`, { model: 'echo', messages: [{ role: 'user', content: words(60) }], max_tokens: 60 });
    assert.equal(stream.status, 200);
    await stream.firstEvent;
    let finished = false;
    void stream.done.then(() => (finished = true));
    proc.signal('SIGTERM');
    // The drain closes idle keep-alive connections: a probe that reused one at that moment retries (kubelet's do not reuse).
    await waitFor(async () => (await get(`${url}/readyz`).catch(() => null))?.status === 503, 10_000, 'readiness 503 (draining)');
    assert.equal(finished, false, 'readiness is 503 while the stream is still running');
    assert.equal(proc.hasExited, false, 'the process waits for the stream');
    const result = await stream.done;
    assert.equal(result.error, null);
    assert.equal(result.sawDone, true);
    assert.equal(result.text, words(60), 'every token arrived');
    const exit = await proc.waitForExit();
    assert.deepEqual(exit, { code: 0, signal: null }, proc.describe());
    assert.match(proc.stdout, /"msg":"draining"/);
    assert.match(proc.stdout, /"msg":"drained; exiting"/);
  });

  it('SIGINT with a drain timeout shorter than the stream: the stream is cut, exit 0', async () => {
    const { proc, url, mock } = await serve(50, '300ms');
    const stream = await openStream(`${url}/v1/completions`, { model: 'echo', prompt: words(200), max_tokens: 200 });
    await stream.firstEvent;
    proc.signal('SIGINT');
    const exit = await proc.waitForExit();
    assert.deepEqual(exit, { code: 0, signal: null }, proc.describe());
    const result = await stream.done;
    assert.equal(result.sawDone, false, 'the stream was cut');
    assert.ok(tokenEvents(result) < 200, `the stream was cut (${tokenEvents(result)} tokens)`);
    assert.match(proc.stdout, /"cutOff":1,.*"msg":"drain timeout reached; remaining requests were cut off"/);
    await waitFor(async () => (await mockStats(mock)).inFlight === 0, 3000, 'upstream request ended');
    assert.equal((await mockStats(mock)).cancelled, 1);
  });
});
