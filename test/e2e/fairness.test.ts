// Fair queueing through a real router: Kthena's environment variables (fairness, one request in flight per model)
// with the router configuration's `fairness:` section naming the fallback user header; a mock pod held busy by a
// delayed request. Order is observed as the pod receives requests (one at a time), never by timing.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { request } from 'undici';
import { ConfigRejectedError, type RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { runCli } from '../support/process.ts';
import { createEnv, get, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';

const FAIRNESS_ENV = { ENABLE_FAIRNESS_SCHEDULING: 'true', FAIRNESS_MAX_CONCURRENT: '1' };

function hello(content: string): object {
  return { model: 'm', messages: [{ role: 'user', content }], max_tokens: 3 };
}

describe('fair queueing through the router', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mock: MockEngineHandle;
  let configDir: string;
  let routerConfig: string;

  /** A request by `user` that the pod holds (header delay) until the test aborts it: it keeps the one slot busy. */
  const occupy = async (user: string): Promise<AbortController> => {
    await post(`${mock.url}/mock/faults`, { headerDelayMs: 600_000 });
    const before = (await mockStats(mock)).received;
    const controller = new AbortController();
    request(`${router.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-user': user }, body: JSON.stringify(hello('block')), signal: controller.signal,
    }).then((res) => res.body.dump(), () => undefined);
    await waitFor(async () => (await mockStats(mock)).received > before, 5000, 'the blocking request to reach the pod');
    return controller;
  };
  const queueSize = async (model = 'm'): Promise<number> => {
    const text = (await get(`${router.url}/metrics`)).text;
    const line = text.split('\n').find((l) => l.startsWith('switchyard_fairness_queue_size{') && l.includes(`model="${model}"`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  before(async () => {
    env = await createEnv();
    configDir = await mkdtemp(join(tmpdir(), 'switchyard-fairness-'));
    routerConfig = join(configDir, 'router.yaml');
    await writeFile(routerConfig, 'fairness:\n  userHeader: X-User\n');
    mock = await startMock(env, { model: 'm' });
    await writeYaml(env, 'config.yaml', [modelServer('ms', { app: 'm' }), podStub('m-0', 'm', mock.port), simpleRoute('r', 'm', 'ms')]);
    router = await startRouter(env, { routerConfigFile: routerConfig, env: FAIRNESS_ENV, exposeMetricsOnRouterPort: true });
  });
  after(async () => {
    await env.cleanup();
    await rm(configDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await post(`${mock.url}/mock/reset`, {});
  });

  it("a heavy user's queued requests are overtaken by a light user's", async () => {
    // The heavy user has used tokens in the window; the light user none.
    assert.equal((await post(`${router.url}/v1/chat/completions`, hello('a long prompt from the heavy user '.repeat(20)), { 'x-user': 'heavy' })).status, 200);
    const blocker = await occupy('blocker');
    const done: string[] = [];
    const send = (user: string, tag: string): Promise<void> =>
      post(`${router.url}/v1/chat/completions`, hello(tag), { 'x-user': user }).then((res) => {
        assert.equal(res.status, 200);
        done.push(tag);
      });
    const heavy1 = send('heavy', 'heavy-1');
    const heavy2 = send('heavy', 'heavy-2');
    await waitFor(async () => (await queueSize()) === 2, 5000, 'two heavy requests queued');
    const light = send('light', 'light-1');
    await waitFor(async () => (await queueSize()) === 3, 5000, 'the light request queued');
    blocker.abort(); // frees the slot: the queue picks by usage, not arrival
    await Promise.all([heavy1, heavy2, light]);
    assert.deepEqual(done, ['light-1', 'heavy-1', 'heavy-2']);
  });

  it('a queued client that disconnects is never dispatched', async () => {
    const blocker = await occupy('blocker');
    const received = (await mockStats(mock)).received;
    const leaving = new AbortController();
    const left = request(`${router.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-user': 'leaver' }, body: JSON.stringify(hello('leaving')), signal: leaving.signal,
    }).then(() => 'answered', () => 'aborted');
    await waitFor(async () => (await queueSize()) === 1, 5000, 'the request to queue');
    leaving.abort();
    assert.equal(await left, 'aborted');
    await waitFor(async () => (await queueSize()) === 0, 5000, 'the queue to drop it');
    blocker.abort();
    assert.equal((await post(`${router.url}/v1/chat/completions`, hello('after'), { 'x-user': 'next' })).status, 200);
    const stats = await mockStats(mock);
    assert.equal(stats.received, received + 1, 'only the later request reached the pod');
    assert.equal((stats.lastRequest?.body as { messages: { content: string }[] }).messages[0].content, 'after');
  });

  it('a reloaded queue timeout applies; a timed-out request is 503 queue_timeout with Retry-After', async () => {
    await writeFile(routerConfig, 'fairness:\n  userHeader: X-User\n  queueTimeout: 200ms\n  retryAfter: 7s\n');
    const blocker = await occupy('blocker');
    try {
      // Until the reload is in force a probe would wait the old 60 s: each probe gives up after 2 s and asks again.
      await waitFor(async () => {
        const res = await request(`${router.url}/v1/chat/completions`, {
          method: 'POST', headers: { 'content-type': 'application/json', 'x-user': 'patient' }, body: JSON.stringify(hello('waits')),
          signal: AbortSignal.timeout(2000),
        }).catch(() => null);
        if (res === null) return false;
        const body = await res.body.json() as { error?: { code: string } };
        assert.equal(res.statusCode, 503);
        assert.equal(body.error?.code, 'queue_timeout');
        assert.equal(res.headers['retry-after'], '7');
        return true;
      }, 20_000, 'the reloaded timeout');
    } finally {
      blocker.abort();
    }
  });

  it('a request that times out or is abandoned in the queue gets its input tokens back', async () => {
    // Model "lm" on the same pod, 35 input tokens an hour; every request below is estimated at 10 (11-character content).
    await writeYaml(env, 'limited.yaml', [modelServer('ms-limited', { app: 'm', model: 'm' }), simpleRoute('limited', 'lm', 'ms-limited') + '\n  rateLimit: {inputTokensPerUnit: 35, unit: hour}']);
    await writeFile(routerConfig, 'fairness:\n  userHeader: X-User\n  queueTimeout: 300ms\n');
    const limited = (content: string, signal?: AbortSignal) => request(`${router.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-user': 'u' }, body: JSON.stringify({ ...hello(content), model: 'lm' }), ...(signal && { signal }),
    });
    await waitFor(async () => {
      const res = await limited('probe probe');
      await res.body.dump();
      return res.statusCode === 200 && res.headers['x-ratelimit-limit-tokens'] === '35';
    }, 10_000, 'the limited route (one request spent: 25 left)');
    await post(`${mock.url}/mock/faults`, { headerDelayMs: 600_000 });
    const reached = (await mockStats(mock)).received;
    const blockerDone = new AbortController();
    const blocker = limited('block block', blockerDone.signal).then((res) => res.body.dump(), () => undefined);
    await waitFor(async () => (await mockStats(mock)).received > reached, 5000, 'the blocker at the pod (15 left)');
    try {
      // Three requests time out in the queue and one is abandoned there: none reached a pod, none keeps its tokens
      // (without the refund the second would already be refused on its budget).
      for (let i = 0; i < 3; i++) {
        const res = await limited(`queued 000${i}`);
        const body = await res.body.json() as { error?: { code: string } };
        assert.equal(res.statusCode, 503, JSON.stringify(body));
        assert.equal(body.error?.code, 'queue_timeout', 'refused by the queue, not by the budget');
      }
      const leaving = new AbortController();
      const left = limited('leaving lea', leaving.signal).then(() => 'answered', () => 'aborted');
      await waitFor(async () => (await queueSize('lm')) === 1, 5000, 'the request to queue');
      leaving.abort();
      assert.equal(await left, 'aborted');
      await waitFor(async () => (await queueSize('lm')) === 0, 5000, 'the queue to drop it');
    } finally {
      blockerDone.abort();
      await blocker;
    }
    await post(`${mock.url}/mock/reset`, {});
    const statuses: number[] = [];
    for (const content of ['after after', 'again again']) {
      const res = await limited(content);
      await res.body.dump();
      statuses.push(res.statusCode);
    }
    assert.deepEqual(statuses, [200, 429], 'the probe and the blocker were dispatched: their tokens stay spent');
  });

  it('both of Kthena\'s strategies enabled is a start-up error', async () => {
    const other = await createEnv();
    try {
      await writeYaml(other, 'config.yaml', [modelServer('ms', { app: 'm' }), podStub('m-0', 'm', mock.port), simpleRoute('r', 'm', 'ms')]);
      await assert.rejects(startRouter(other, { env: { ENABLE_FAIRNESS_SCHEDULING: 'true', ENABLE_SESSION_BOOST: 'true' } }), (err: unknown) => {
        assert.ok(err instanceof ConfigRejectedError);
        assert.match(err.message, /mutually exclusive/);
        return true;
      });
    } finally {
      await other.cleanup();
    }
  });

  it('switchyard serve with both strategies in its environment exits 1, as Kthena', async () => {
    const run = await runCli(['serve', '--config', env.dir, '--port', '0', '--host', '127.0.0.1', '--metrics-port', '0', '--debug-port', '0'], 30_000,
      { ENABLE_FAIRNESS_SCHEDULING: 'true', ENABLE_SESSION_BOOST: 'true' });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout + run.stderr, /mutually exclusive/);
  });
});

describe('session boost through the router', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mock: MockEngineHandle;

  before(async () => {
    env = await createEnv();
    mock = await startMock(env, { model: 'm' });
    await writeYaml(env, 'config.yaml', [modelServer('ms', { app: 'm' }), podStub('m-0', 'm', mock.port), simpleRoute('r', 'm', 'ms')]);
    // One pod, one request in flight per pod: a second request waits in the session-boost queue.
    router = await startRouter(env, { env: { ENABLE_SESSION_BOOST: 'true', SESSION_BOOST_INFLIGHT_PER_POD: '1' }, exposeMetricsOnRouterPort: true });
  });
  after(() => env.cleanup());

  it("a follow-up turn of a session that just completed one goes before an earlier request of a new session", async () => {
    const chat = (session: string, tag: string): Promise<number> =>
      post(`${router.url}/v1/chat/completions`, hello(tag), { 'x-session-id': session }).then((res) => res.status);
    assert.equal(await chat('s1', 'first turn'), 200);
    await post(`${mock.url}/mock/faults`, { headerDelayMs: 600_000 });
    const blocker = new AbortController();
    request(`${router.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hello('block')), signal: blocker.signal,
    }).then((res) => res.body.dump(), () => undefined);
    const queued = async (): Promise<number> => {
      const line = (await get(`${router.url}/metrics`)).text.split('\n').find((l) => l.startsWith('switchyard_session_boost_queue_size{') && l.includes('model="m"'));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    await waitFor(async () => (await mockStats(mock)).received === 2, 5000, 'the blocking request to reach the pod');
    const order: string[] = [];
    const fresh = chat('s2', 'new session').then(() => order.push('s2'));
    await waitFor(async () => (await queued()) === 1, 5000, 'the new session queued');
    const followUp = chat('s1', 'second turn').then(() => order.push('s1'));
    await waitFor(async () => (await queued()) === 2, 5000, 'the follow-up queued');
    blocker.abort();
    await Promise.all([fresh, followUp]);
    assert.deepEqual(order, ['s1', 's2']);
  });
});

