// Each load-aware scheduler plugin through the real router against simulated engines: metrics scraped for real
// (every 100 ms), a Kthena router configuration file enabling just that plugin, and an outcome that would differ if
// the plugin did nothing (with no opinion from any plugin, the framework picks at random).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { createEnv, waitFor, type TestEnv } from '../support/harness.ts';
import { BASE, Holds, describeSpread, scraped, spread, startScheduledRouter, startSimulated, writePods } from '../support/scheduling.ts';

describe('scheduler plugins against simulated engines', () => {
  describe('least-request (score): a pod busy with long streams gets fewer new requests', () => {
    let env: TestEnv;
    let mocks: MockEngineHandle[];
    let router: RouterApp;
    const holds = new Holds();

    before(async () => {
      env = await createEnv();
      mocks = [await startSimulated(env, 'busy', { decodeMsBase: 5 }), await startSimulated(env, 'idle', { decodeMsBase: 5 })];
      await writePods(env, mocks);
      router = await startScheduledRouter(env, { scores: [{ name: 'least-request' }] });
    });
    after(async () => {
      await holds.release();
      await env.cleanup();
    });

    it('sends almost none of 40 requests to the pod running 4 streams', async () => {
      // Through the router, pinned to the busy pod: its in-flight count (the router's own) and its scraped
      // running count both say 4.
      await holds.open(router.url, 4, { model: 'pin-0' });
      await waitFor(() => scraped(router, mocks[0])?.running === 4, 3000, 'the busy pod scraped with 4 running');
      const served = await spread(router, 40, () => ({}), { concurrency: 2 });
      assert.ok((served.get('busy') ?? 0) < 12, `busy pod got < 30% of 40 (${describeSpread(served)})`);
    });
  });

  describe('least-request (filter): a pod whose engine queue reaches maxWaitingRequests gets no new requests', () => {
    let env: TestEnv;
    let mocks: MockEngineHandle[];
    let router: RouterApp;
    const holds = new Holds();

    before(async () => {
      env = await createEnv();
      // One sequence at a time: a few long requests really queue up in the engine.
      mocks = [await startSimulated(env, 'queued', { maxNumSeqs: 1, decodeMsBase: 5 }), await startSimulated(env, 'free', { decodeMsBase: 5 })];
      await writePods(env, mocks);
      router = await startScheduledRouter(env, {
        filters: ['least-request'],
        scores: [{ name: 'random' }],
        args: { 'least-request': { maxWaitingRequests: 2 } },
      });
    });
    after(async () => {
      await holds.release();
      await env.cleanup();
    });

    // A request sent to the queued pod would wait behind the held ones: the timeout turns that into a failure.
    it('filters the pod out while its scraped queue is 3, and takes it back once the queue drains', { timeout: 15_000 }, async () => {
      // Straight to the engine: the router knows of this load only through the scraped waiting gauge.
      await holds.open(mocks[0].url, 4, { model: BASE });
      await waitFor(() => scraped(router, mocks[0])?.waiting === 3, 3000, 'the queued pod scraped with 3 waiting');
      const during = await spread(router, 20, () => ({}), { concurrency: 2 });
      assert.equal(during.get('queued') ?? 0, 0, `no request for the queued pod (${describeSpread(during)})`);
      assert.equal(during.get('free'), 20);

      await holds.release();
      await waitFor(() => scraped(router, mocks[0])?.waiting === 0, 3000, 'the queue drained');
      const afterwards = await spread(router, 20, () => ({}), { concurrency: 2 });
      assert.ok((afterwards.get('queued') ?? 0) > 0, `random spreads again once the queue is gone (${describeSpread(afterwards)})`);
    });
  });

  describe('least-latency: a pod with much higher simulated TTFT and TPOT gets fewer requests', () => {
    // TTFT 120 ms and 60 ms per token against 2 ms: gaps no event-loop stall on a busy machine can close.
    let env: TestEnv;
    let mocks: MockEngineHandle[];
    let router: RouterApp;

    before(async () => {
      env = await createEnv();
      mocks = [
        await startSimulated(env, 'slow', { ttftMs: 120, decodeMsBase: 60 }),
        await startSimulated(env, 'fast', { ttftMs: 2, decodeMsBase: 2 }),
      ];
      await writePods(env, mocks);
      router = await startScheduledRouter(env, { scores: [{ name: 'least-latency' }], args: { 'least-latency': { TTFTTPOTWeightFactor: 0.5 } } });
    });
    after(() => env.cleanup());

    it('sends almost none of 30 requests to the slow pod once both have latency histograms', async () => {
      // Warm-up through the pinned routes, so both engines' histograms have data.
      for (let i = 0; i < 2; i++) {
        await spread(router, 2, (k) => ({ model: 'pin-0', prompt: `warm-up ${i} ${k}`, max_tokens: 3 }), { concurrency: 2 });
        await spread(router, 2, (k) => ({ model: 'pin-1', prompt: `warm-up ${i} ${k}`, max_tokens: 3 }), { concurrency: 2 });
      }
      await waitFor(
        () => {
          const [slow, fast] = mocks.map((m) => scraped(router, m));
          return slow !== null && fast !== null && slow.tpotSeconds > fast.tpotSeconds && slow.ttftSeconds > fast.ttftSeconds;
        },
        3000,
        'latencies of both pods scraped',
      );
      const served = await spread(router, 30, () => ({}), { concurrency: 2 });
      assert.ok((served.get('slow') ?? 0) < 9, `slow pod got < 30% of 30 (${describeSpread(served)})`);
    });
  });

  describe('gpu-usage: a pod with a nearly full simulated KV cache gets fewer requests', () => {
    let env: TestEnv;
    let mocks: MockEngineHandle[];
    let router: RouterApp;
    const holds = new Holds();

    before(async () => {
      env = await createEnv();
      // 64 blocks of 16 tokens; one held request of 600 prompt tokens takes 38 of them and grows as it decodes.
      mocks = [await startSimulated(env, 'full', { kvBlocks: 64, decodeMsBase: 10 }), await startSimulated(env, 'roomy', { decodeMsBase: 10 })];
      await writePods(env, mocks);
      router = await startScheduledRouter(env, { scores: [{ name: 'gpu-usage' }] });
    });
    after(async () => {
      await holds.release();
      await env.cleanup();
    });

    it('sends almost none of 30 requests to the pod whose scraped KV usage is above 50%', async () => {
      const longPrompt = Array.from({ length: 600 }, (_, i) => `w${i}`).join(' ');
      await holds.open(mocks[0].url, 1, { model: BASE, prompt: longPrompt, max_tokens: 400 });
      await waitFor(() => (scraped(router, mocks[0])?.kvCacheUsage ?? 0) > 0.5, 3000, 'the full pod scraped above 50% KV usage');
      const served = await spread(router, 30, () => ({}), { concurrency: 2 });
      assert.ok((served.get('full') ?? 0) < 9, `pod with high KV usage got < 30% of 30 (${describeSpread(served)})`);
    });
  });

  describe('random: spreads requests over every pod, whatever their load', () => {
    let env: TestEnv;
    let mocks: MockEngineHandle[];
    let router: RouterApp;
    const holds = new Holds();

    before(async () => {
      env = await createEnv();
      mocks = [await startSimulated(env, 'r0', { decodeMsBase: 5 }), await startSimulated(env, 'r1', { decodeMsBase: 5 }), await startSimulated(env, 'r2', { decodeMsBase: 5 })];
      await writePods(env, mocks);
      router = await startScheduledRouter(env, { scores: [{ name: 'random', weight: 1 }] });
    });
    after(async () => {
      await holds.release();
      await env.cleanup();
    });

    it('gives every pod some of 60 requests, including one busy with 3 streams that least-request would avoid', async () => {
      await holds.open(router.url, 3, { model: 'pin-0' });
      const served = await spread(router, 60, () => ({}));
      for (const pod of ['r0', 'r1', 'r2']) {
        const n = served.get(pod) ?? 0;
        assert.ok(n > 0 && n < 36, `${pod} got some but not most of 60 (${describeSpread(served)})`);
      }
    });
  });
});
