// Which pod serves a request: fewest in-flight requests first, random among ties; pods that refuse connections are
// skipped for a back-off (passive health), pods failing /health are skipped (active health), and pods whose status
// is not ready are never used.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { request } from 'undici';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { createEnv, mockFault, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { deadPort, occupy, podYaml, startFakePod, type FakePod } from '../support/proxy-fixtures.ts';

const BASE = 'base-model';
/** Counts prompts so that each request has a new one. */
let prompts = 0;

describe('pod selection', () => {
  let env: TestEnv;
  let router: RouterApp;
  let a: MockEngineHandle;
  let b: MockEngineHandle;
  let spare: MockEngineHandle;
  let revivedPort: number;

  const completion = async (model: string): Promise<void> => {
    // A new prompt each time: the default scheduler's prefix-cache plugin would keep a repeated prompt on one pod.
    const res = await post(`${router.url}/v1/completions`, { model, prompt: `x ${++prompts}`, max_tokens: 1 });
    assert.equal(res.status, 200, res.text);
  };
  const received = async (mock: MockEngineHandle): Promise<number> => (await mockStats(mock)).received;

  before(async () => {
    env = await createEnv();
    a = await startMock(env, { model: BASE, instanceName: 'a' });
    b = await startMock(env, { model: BASE, instanceName: 'b' });
    spare = await startMock(env, { model: BASE, instanceName: 'spare' });
    revivedPort = await deadPort();
    await writeYaml(env, 'config.yaml', [
      modelServer('lb', { model: BASE }),
      podStub('lb-a', 'lb', a.port),
      podStub('lb-b', 'lb', b.port),
      simpleRoute('lb', 'lb', 'lb'),
      // The same pods reached through routes of their own, to make one of them busy.
      modelServer('hold-a', { model: BASE }),
      podStub('hold-a', 'hold-a', a.port),
      simpleRoute('hold-a', 'hold-a', 'hold-a'),
      modelServer('hold-b', { model: BASE }),
      podStub('hold-b', 'hold-b', b.port),
      simpleRoute('hold-b', 'hold-b', 'hold-b'),
      // One pod that refuses connections until the test starts an engine on its port.
      modelServer('passive', { model: BASE }),
      podStub('passive-dead', 'passive', revivedPort),
      podStub('passive-b', 'passive', b.port),
      simpleRoute('passive', 'passive', 'passive'),
      // Only a is ready; the others point at the live spare engine but their status says not ready.
      modelServer('mixed', { model: BASE }),
      podStub('mixed-a', 'mixed', a.port),
      podYaml('mixed-pending', 'mixed', spare.port, { ip: '127.0.0.1', phase: 'Pending' }),
      podYaml('mixed-failed', 'mixed', spare.port, { ip: '127.0.0.1', phase: 'Failed' }),
      podYaml('mixed-unready', 'mixed', spare.port, { ip: '127.0.0.1', phase: 'Running', ready: false }),
      podYaml('mixed-no-ip', 'mixed', spare.port, { phase: 'Running', ready: true }),
      simpleRoute('mixed', 'mixed', 'mixed'),
    ]);
    router = await startRouter(env);
  });
  after(() => env.cleanup());
  beforeEach(async () => {
    for (const m of [a, b, spare]) await post(`${m.url}/mock/reset`, '');
  });

  it('sends every request to the pod with fewer requests in flight', async () => {
    for (const [busy, idle, hold] of [[a, b, 'hold-a'], [b, a, 'hold-b']] as const) {
      const release = await occupy(router.url, hold, busy);
      try {
        const [busy0, idle0] = [await received(busy), await received(idle)];
        for (let i = 0; i < 10; i++) await completion('lb');
        assert.equal(await received(busy), busy0, `${busy.instanceName} is busy: it gets nothing`);
        assert.equal(await received(idle), idle0 + 10);
      } finally {
        await release();
      }
    }
  });

  it('picks at random between pods with as many requests in flight', async () => {
    for (let i = 0; i < 40; i++) await completion('lb');
    const [ra, rb] = [await received(a), await received(b)];
    assert.equal(ra + rb, 40);
    assert.ok(ra > 0 && rb > 0, `both idle pods are chosen (${ra}/${rb})`);
  });

  it('balances concurrent requests exactly', async () => {
    for (const m of [a, b]) await mockFault(m, { headerDelayMs: 30_000, count: 10 });
    const aborts = Array.from({ length: 10 }, () => new AbortController());
    const pending = aborts.map((abort) =>
      request(`${router.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'lb', prompt: 'x' }),
        signal: abort.signal,
      }).then((res) => res.body.dump(), () => undefined),
    );
    try {
      await waitFor(async () => (await received(a)) + (await received(b)) === 10, 5000, 'all requests to reach a pod');
      assert.deepEqual([(await mockStats(a)).inFlight, (await mockStats(b)).inFlight], [5, 5]);
    } finally {
      for (const abort of aborts) abort.abort();
      await Promise.all(pending);
      await waitFor(async () => (await mockStats(a)).inFlight + (await mockStats(b)).inFlight === 0, 5000, 'the held requests to end');
    }
  });

  it('never uses pods whose status is not ready', async () => {
    for (let i = 0; i < 10; i++) await completion('mixed');
    assert.equal(await received(a), 10);
    assert.equal(await received(spare), 0);
  });

  it('skips a pod that refused a connection for a back-off, then uses it again', async () => {
    // b busy: the dead pod is tried first, refuses, and the request falls over to b.
    const release = await occupy(router.url, 'hold-b', b);
    try {
      await completion('passive');
    } finally {
      await release();
    }
    // The pod comes back at once, but it is still in its back-off: idle as it is, it gets nothing.
    const revived = await startMock(env, { model: BASE, port: revivedPort, instanceName: 'revived' });
    const b0 = await received(b);
    await Promise.all(Array.from({ length: 6 }, () => completion('passive')));
    assert.equal(await received(revived), 0, 'skipped while backing off');
    assert.equal(await received(b), b0 + 6);
    // The back-off ends: the pod serves again.
    await waitFor(async () => {
      await completion('passive');
      return (await received(revived)) > 0;
    }, 10_000, 'the revived pod to be used after its back-off');
  });
});

describe('active health checks', () => {
  let env: TestEnv;
  let router: RouterApp;
  let sick: FakePod;
  let well: FakePod;

  before(async () => {
    env = await createEnv();
    sick = await startFakePod('sick');
    well = await startFakePod('well');
    sick.healthStatus = 503;
    await writeYaml(env, 'config.yaml', [
      modelServer('pair', { model: BASE }),
      podStub('sick', 'pair', sick.port),
      podStub('well', 'pair', well.port),
      simpleRoute('pair', 'pair', 'pair'),
    ]);
    router = await startRouter(env, { healthCheckIntervalMs: 50 });
  });
  after(async () => {
    await env.cleanup();
    await Promise.all([sick.close(), well.close()]);
  });

  const completion = async (): Promise<void> => {
    const res = await post(`${router.url}/v1/completions`, { model: 'pair', prompt: `x ${++prompts}` });
    assert.equal(res.status, 200, res.text);
  };

  it('skips a pod whose /health fails and uses it again once it passes', async () => {
    // Probes of one round run before the next round starts: once a second probe arrived, the first one's verdict holds.
    await waitFor(() => sick.healthProbes >= 2 && well.healthProbes >= 2, 5000, 'two health probes per pod');
    for (let i = 0; i < 20; i++) await completion();
    assert.equal(sick.requests.length, 0, 'the pod failing /health gets no request');
    assert.equal(well.requests.length, 20);

    sick.healthStatus = 200;
    const probes = sick.healthProbes;
    await waitFor(() => sick.healthProbes >= probes + 2, 5000, 'a passing probe');
    await waitFor(async () => {
      await completion();
      return sick.requests.length > 0;
    }, 5000, 'the recovered pod to serve');
  });
});
