// Global token rate limits (spec.rateLimit.global.redis.address): buckets shared through a real redis-server by two
// router instances, as Kthena's ModelRouteWithGlobalRateLimit.yaml intends; Redis killed mid-test: fail open by
// default (logged and counted), fail closed when configured; Redis back, the routers reconnect and limit again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerResponse } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import pino from 'pino';
import { startRouterApp, type RouterApp } from '../../src/cli/router-app.ts';
import { scrape, total } from '../support/metrics.ts';
import { pdPod, pdServer } from '../support/pd-fixtures.ts';
import { startFakePod } from '../support/proxy-fixtures.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { createEnv, modelServer, podStub, post, startMock, startRouter, waitFor, writeYaml, type RawResponse, type TestEnv } from '../support/harness.ts';

/** Kthena's examples/kthena-router/ModelRouteWithGlobalRateLimit.yaml, pointed at the test's redis-server. */
const globalRoute = (address: string): string => `
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: deepseek-global-rate-limit
  namespace: default
spec:
  modelName: "deepseek-r1-with-global-rate-limit"
  rules:
  - name: "default"
    targetModels:
    - modelServerName: "deepseek-r1-1-5b"
  rateLimit:
    inputTokensPerUnit: 10
    outputTokensPerUnit: 5000
    unit: minute
    global:
      redis:
        address: "${address}"`;

const MODEL = 'deepseek-r1-with-global-rate-limit';
/** 10 tokens by Kthena's estimate: the whole per-minute budget. */
const chat = (router: RouterApp): Promise<RawResponse> =>
  post(`${router.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'hello world' }], max_tokens: 3 });

async function twoRouters(redis: RedisServer, secondFailureMode: 'open' | 'closed'): Promise<{ env: TestEnv; a: RouterApp; b: RouterApp }> {
  const env = await createEnv();
  const mock = await startMock(env, { model: 'deepseek-r1' });
  await writeYaml(env, 'config.yaml', [modelServer('deepseek-r1-1-5b', { app: 'ds', model: 'deepseek-r1' }), podStub('ds-0', 'ds', mock.port), globalRoute(redis.address)]);
  const a = await startRouter(env, { exposeMetricsOnRouterPort: true });
  const b = await startRouterApp({
    configPaths: [env.dir], port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
    metricsScrapeIntervalMs: 0, rateLimitFailureMode: secondFailureMode, exposeMetricsOnRouterPort: true, logger: pino({ level: 'silent' }),
  });
  const cleanup = env.cleanup.bind(env);
  env.cleanup = async () => {
    await b.shutdown(1000);
    await cleanup();
  };
  return { env, a, b };
}

describe('global token rate limits through Redis', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.kill());

  it('two routers share one budget: what one spent, the other refuses', async () => {
    await redis.flush();
    const { env, a, b } = await twoRouters(redis, 'open');
    try {
      const first = await chat(a);
      assert.equal(first.status, 200, first.text);
      assert.equal(first.headers['x-ratelimit-limit-tokens'], '10');
      assert.equal(first.headers['x-ratelimit-remaining-tokens'], '0');
      const onOther = await chat(b);
      assert.equal(onOther.status, 429, `the second router sees the first one's spending: ${onOther.text}`);
      assert.equal((onOther.json() as { error: { code: string } }).error.code, 'rate_limit_exceeded');
      const retryAfter = Number(onOther.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal((await chat(a)).status, 429);
    } finally {
      await env.cleanup();
    }
  });

  it('a request refused after the check (no pod to serve it) gets its input tokens back in Redis', async () => {
    await redis.flush();
    const env = await createEnv();
    try {
      // A prefill/decode ModelServer with a prefill pod and no decode pod: every request is refused by the scheduler
      // (no PD pair) after the rate-limit stage took its tokens.
      await writeYaml(env, 'config.yaml', [pdServer('deepseek-r1-1-5b', 'http', { model: 'deepseek-r1' }), pdPod('p-0', 'deepseek-r1-1-5b', 'prefill', 'g1', 1), globalRoute(redis.address)]);
      const a = await startRouter(env, {});
      const statuses: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await chat(a);
        statuses.push(`${res.status} ${(res.json() as { error: { code: string } }).error.code}`);
        // The refund is sent as the answer goes out, on the connection the next check uses: Redis gets it first.
      }
      assert.deepEqual(statuses, Array(3).fill('503 no_pd_pair'), 'refused for want of a pod pair each time, never for the budget');
    } finally {
      await env.cleanup();
    }
  });

  it('a reload that adds a global limit limits its first requests (failing closed) once the new client connects', async () => {
    await redis.flush();
    const env = await createEnv();
    const mock = await startMock(env, { model: 'deepseek-r1' });
    const servers = [modelServer('deepseek-r1-1-5b', { app: 'ds', model: 'deepseek-r1' }), podStub('ds-0', 'ds', mock.port)];
    await writeYaml(env, 'config.yaml', servers);
    const router = await startRouterApp({
      configPaths: [env.dir], port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0, rateLimitFailureMode: 'closed', logger: pino({ level: 'silent' }),
    });
    try {
      // Redis hangs while the reload creates its client, so that the first request surely meets a client still
      // connecting (on loopback the connection is otherwise made within a moment: a race).
      redis.pause();
      await writeYaml(env, 'config.yaml', [...servers, globalRoute(redis.address)]);
      await waitFor(() => router.store.snapshot?.routesByModel.has(MODEL) === true, 5000, 'the reload adding the limited route');
      const first = chat(router);
      setTimeout(() => redis.resume(), 300);
      const res = await first;
      assert.equal(res.status, 200, `the request waits for the new client's first connection: ${res.text}`);
      assert.equal(res.headers['x-ratelimit-remaining-tokens'], '0', 'it was counted in Redis');
      assert.equal((await chat(router)).status, 429);
    } finally {
      redis.resume();
      await router.shutdown(1000);
      await env.cleanup();
    }
  });

  it('failing closed, a request refused while Redis hangs spends none of the budget once Redis wakes up (also the first one)', async () => {
    await redis.flush();
    const { env, b } = await twoRouters(redis, 'closed');
    try {
      redis.pause(); // before the router's first check
      let refused: RawResponse;
      try {
        refused = await chat(b);
      } finally {
        redis.resume();
      }
      assert.equal(refused.status, 503, `refused while Redis hangs: ${refused.text}`);
      assert.equal((refused.json() as { error: { code: string } }).error.code, 'rate_limit_unavailable');
      // The router dropped the silent connection: it answers 503 at once until it has connected again. Redis has run
      // the timed-out check (still in its socket buffer) by then.
      let after = refused;
      await waitFor(async () => (after = await chat(b)).status !== 503, 10_000, 'the router to reconnect to Redis');
      assert.equal(after.status, 200, `the refused request took nothing: ${after.text}`);
      assert.equal(after.headers['x-ratelimit-remaining-tokens'], '0');
    } finally {
      await env.cleanup();
    }
  });

  it('a request under way when a reload moves the limit to another Redis still charges its output where it was checked', async () => {
    await redis.flush();
    const other = await startRedis();
    const env = await createEnv();
    const pod = await startFakePod('ds-0');
    let held: ServerResponse | null = null;
    pod.handler = (_req, res) => (held = res);
    const reader = new Redis({ host: '127.0.0.1', port: redis.port });
    try {
      const servers = [modelServer('deepseek-r1-1-5b', { app: 'ds', model: 'deepseek-r1' }), podStub('ds-0', 'ds', pod.port)];
      await writeYaml(env, 'config.yaml', [...servers, globalRoute(redis.address)]);
      const router = await startRouter(env, { exposeMetricsOnRouterPort: true });
      const answer = chat(router);
      await waitFor(() => held !== null, 5000, 'the request to reach the pod');
      await writeYaml(env, 'config.yaml', [...servers, globalRoute(other.address)]);
      await waitFor(() => router.store.snapshot?.routesByModel.get(MODEL)?.[0].resource.spec.rateLimit?.global?.redis.address === other.address, 5000, 'the reload');
      const body = JSON.stringify({
        id: 'cmpl-held', object: 'chat.completion', created: 0, model: 'deepseek-r1',
        choices: [{ index: 0, message: { role: 'assistant', content: 'seven tokens' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 7, total_tokens: 10 },
      });
      held!.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      held!.end(body);
      assert.equal((await answer).status, 200);
      const outputLevel = async (): Promise<number> => Number((await reader.hget(`switchyard:ratelimit:default/${MODEL}:output`, 'tokens')) ?? NaN);
      await waitFor(async () => (await outputLevel()) <= 4993, 5000, 'the 7 output tokens charged to the Redis the request was checked in');
      assert.equal(total(await scrape(router.url), 'switchyard_rate_limit_store_errors_total'), 0, 'no store failure');
    } finally {
      reader.disconnect();
      await env.cleanup();
      await pod.close();
      await other.kill();
    }
  });

  it('a Redis gone without closing the connection (its node failed) is left after a timed-out check: the address is dialled again', async () => {
    await redis.flush();
    const replacement = await startRedis();
    // The address the routers dial: a proxy to `redis` whose connections go silent (nothing forwarded, nothing closed,
    // as when the host died), while new connections reach the replacement (the Service's new pod).
    let target = redis.port;
    let generation = 0;
    const sockets: Socket[] = [];
    const proxy = createServer((socket) => {
      const upstream = connect(target, '127.0.0.1');
      sockets.push(socket, upstream);
      const born = generation;
      socket.on('data', (chunk: Buffer) => void (born === generation && upstream.write(chunk)));
      upstream.on('data', (chunk: Buffer) => void (born === generation && socket.write(chunk)));
      socket.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const env = await createEnv();
    try {
      const mock = await startMock(env, { model: 'deepseek-r1' });
      await writeYaml(env, 'config.yaml', [modelServer('deepseek-r1-1-5b', { app: 'ds', model: 'deepseek-r1' }), podStub('ds-0', 'ds', mock.port), globalRoute(address)]);
      const router = await startRouter(env, {});
      assert.equal((await chat(router)).headers['x-ratelimit-limit-tokens'], '10');
      generation++; // the connections made so far go silent
      target = replacement.port;
      const stalled = await chat(router);
      assert.equal(stalled.status, 200, 'fails open');
      assert.equal(stalled.headers['x-ratelimit-limit-tokens'], undefined, 'the check timed out');
      await waitFor(async () => (await chat(router)).headers['x-ratelimit-limit-tokens'] === '10', 10_000, 'checks answered by the replacement Redis');
    } finally {
      await env.cleanup();
      for (const socket of sockets) socket.destroy();
      proxy.close();
      await replacement.kill();
    }
  });

  it('Redis killed mid-test: fails open by default (logged, counted), closed when configured', async () => {
    const own = await startRedis();
    let restarted: RedisServer | null = null;
    const { env, a, b } = await twoRouters(own, 'closed');
    try {
      assert.equal((await chat(a)).status, 200);
      assert.equal((await chat(b)).status, 429, 'the shared budget is spent');
      await own.kill();
      const open = await chat(a);
      assert.equal(open.status, 200, `fail open: ${open.text}`);
      assert.equal(open.headers['x-ratelimit-limit-tokens'], undefined, 'no bucket was consulted');
      const closed = await chat(b);
      assert.equal(closed.status, 503, `fail closed: ${closed.text}`);
      assert.equal((closed.json() as { error: { code: string } }).error.code, 'rate_limit_unavailable');
      assert.ok(Number(closed.headers['retry-after']) >= 1);
      assert.ok(total(await scrape(a.url), 'switchyard_rate_limit_store_errors_total', { failure_mode: 'open' }) >= 1);
      assert.ok(total(await scrape(b.url), 'switchyard_rate_limit_store_errors_total', { failure_mode: 'closed' }) >= 1);

      // Redis comes back (empty): the routers reconnect by themselves and limit again.
      restarted = await startRedis(own.port);
      await waitFor(async () => (await chat(b)).status === 200, 10_000, 'the router to reconnect to Redis');
      assert.equal((await chat(a)).status, 429, 'the shared budget applies again');
    } finally {
      await env.cleanup();
      await own.kill();
      await restarted?.kill();
    }
  });
});
