// Kthena's own router configuration, verbatim, through `switchyard serve --router-config`; and the simulator's
// metrics as the router scrapes them: what the scheduler reads must be what the engine is doing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { EngineStateTable } from '../../src/engines/engine-state.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { killAll, startServe } from '../support/process.ts';
import { createEnv, get, post, waitFor, type TestEnv } from '../support/harness.ts';
import { BASE, Holds, SCRAPE_MS, engineStats, scraped, startScheduledRouter, startSimulated, writePods, writeRouterConfig } from '../support/scheduling.ts';

/** pkg/kthena-router/scheduler/testdata/configmap.yaml, identical to the Helm chart's routerConfiguration. */
const KTHENA_CHART_CONFIG = readFileSync(new URL('../../examples/router-config/kthena-chart.yaml', import.meta.url), 'utf8');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("Kthena's chart configuration through switchyard serve --router-config", () => {
  let env: TestEnv;
  let mocks: MockEngineHandle[];
  let url: string;
  let stdout: () => string;
  const holds = new Holds();

  before(async () => {
    env = await createEnv();
    mocks = [await startSimulated(env, 'queued', { maxNumSeqs: 1, decodeMsBase: 5 }), await startSimulated(env, 'free', { decodeMsBase: 5 })];
    await writePods(env, mocks);
    const file = await writeRouterConfig(env, KTHENA_CHART_CONFIG);
    const serve = await startServe(['--config', env.dir, '--router-config', file, '--metrics-scrape-interval', `${SCRAPE_MS}ms`]);
    url = serve.url;
    stdout = () => serve.proc.stdout;
  });
  after(async () => {
    await holds.release();
    await killAll();
    await env.cleanup();
  });

  it('loads without a warning and routes chat and completions', async () => {
    const warnings = stdout()
      .split('\n')
      .filter((line) => line.startsWith('{') && (JSON.parse(line) as { level: number }).level >= 40);
    assert.deepEqual(warnings, []);
    for (let i = 0; i < 4; i++) {
      const chat = await post(`${url}/v1/chat/completions`, { model: BASE, messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 2 });
      assert.equal(chat.status, 200, chat.text);
      const completion = await post(`${url}/v1/completions`, { model: BASE, prompt: `hello ${i}`, max_tokens: 2 });
      assert.equal(completion.status, 200, completion.text);
    }
  });

  // A request sent to the queued pod would wait behind the held ones: the timeout turns that into a failure.
  it('applies its least-request filter: a pod with 10 requests waiting gets none of 20', { timeout: 15_000 }, async () => {
    // 11 long requests straight to an engine that runs one at a time: 1 running, 10 waiting (= maxWaitingRequests).
    await holds.open(mocks[0].url, 11, { model: BASE });
    await waitFor(async () => (await engineStats(mocks[0])).waiting === 10, 3000, '10 requests waiting');
    // The other pod runs two streams sent through the router: by in-flight count (least-request's score) and KV
    // usage (gpu-usage), the queued pod looks the better one, so only the filter keeps requests away from it.
    await holds.open(url, 2, { model: 'pin-1' });
    await sleep(5 * SCRAPE_MS); // the router's scrapes see it all
    const receivedBefore = ((await get(`${mocks[0].url}/mock/stats`)).json() as { received: number }).received;
    for (let i = 0; i < 20; i++) {
      const res = await post(`${url}/v1/completions`, { model: BASE, prompt: `request ${i}`, max_tokens: 2 });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-mock-instance'], 'free');
    }
    const receivedAfter = ((await get(`${mocks[0].url}/mock/stats`)).json() as { received: number }).received;
    assert.equal(receivedAfter - receivedBefore, 0);
  });
});

/** Sum and count of one histogram in an engine's /metrics. */
async function histogram(mock: MockEngineHandle, name: string): Promise<{ sum: number; count: number }> {
  const text = (await get(`${mock.url}/metrics`)).text;
  const value = (suffix: string): number => {
    const match = new RegExp(`^${name}_${suffix}\\{[^}]*\\} (\\S+)$`, 'm').exec(text);
    if (match === null) throw new Error(`${name}_${suffix} not found`);
    return Number(match[1]);
  };
  return { sum: value('sum'), count: value('count') };
}

describe("the simulator's metrics as the router scrapes them", () => {
  let env: TestEnv;
  let mock: MockEngineHandle;
  let router: RouterApp;
  const holds = new Holds();

  before(async () => {
    env = await createEnv();
    mock = await startSimulated(env, 'engine', { maxNumSeqs: 2, kvBlocks: 1024, ttftMs: 50, decodeMsBase: 30 });
    await writePods(env, [mock]);
    router = await startScheduledRouter(env, { scores: [{ name: 'least-request' }] });
    await waitFor(() => scraped(router, mock) !== null, 3000, 'first scrape');
  });
  after(async () => {
    await holds.release();
    await env.cleanup();
  });

  it("TTFT and TPOT: the router's figures are the engine's measurements of the last request", async () => {
    // Two tokens: one TTFT and one inter-token observation. The router reports the mean of the observations made
    // since its previous scrape; whichever scrapes these fall between, that mean is exactly this request's value.
    const ttft0 = await histogram(mock, 'vllm:time_to_first_token_seconds');
    const itl0 = await histogram(mock, 'vllm:inter_token_latency_seconds');
    const res = await post(`${router.url}/v1/completions`, { model: BASE, prompt: 'one known request', max_tokens: 2 });
    assert.equal(res.status, 200);
    const ttft1 = await histogram(mock, 'vllm:time_to_first_token_seconds');
    const itl1 = await histogram(mock, 'vllm:inter_token_latency_seconds');
    assert.deepEqual([ttft1.count - ttft0.count, itl1.count - itl0.count], [1, 1]);
    const ttft = ttft1.sum - ttft0.sum;
    const tpot = itl1.sum - itl0.sum;
    // The simulated costs: a 50 ms prefill, then 30 ms decode steps (a step that starts late because its timer fired
    // late is shortened by up to 5 ms, so that the engine keeps its pace on average).
    assert.ok(ttft >= 0.045, `TTFT ${ttft} s reflects the 50 ms prefill`);
    assert.ok(tpot >= 0.02, `TPOT ${tpot} s reflects the 30 ms decode steps`);
    await waitFor(
      () => {
        const seen = scraped(router, mock);
        return seen !== null && Math.abs(seen.ttftSeconds - ttft) < 1e-9 && Math.abs(seen.tpotSeconds - tpot) < 1e-9;
      },
      3000,
      `the router to scrape TTFT ${ttft} s and TPOT ${tpot} s`,
    );
  });

  it('running, waiting and KV usage: the router sees what GET /mock/stats reports', async () => {
    // Five long requests on an engine that runs two at a time; the two running ones grow their KV blocks as they
    // decode, so usage only goes up while they run.
    await holds.open(mock.url, 5, { model: BASE, prompt: Array.from({ length: 100 }, (_, i) => `p${i}`).join(' ') });
    await waitFor(async () => {
      const stats = await engineStats(mock);
      return stats.running === 2 && stats.waiting === 3;
    }, 3000, 'the engine running 2 and queueing 3');
    const earlier = await engineStats(mock);
    assert.ok(earlier.kvCacheUsage > 0);
    assert.equal(earlier.kvCacheUsage, earlier.kvBlocksUsed / earlier.kvBlocks);

    // Two scrapes after that reading: the second one started after it.
    const table = router.engines as EngineStateTable;
    const t0 = Date.now();
    await waitFor(() => (table.peek(mock.url)?.metricsAt ?? 0) > t0, 3000, 'a scrape');
    const t1 = table.peek(mock.url)!.metricsAt;
    await waitFor(() => (table.peek(mock.url)?.metricsAt ?? 0) > t1, 3000, 'another scrape');
    const seen = scraped(router, mock)!;
    const later = await engineStats(mock);
    assert.deepEqual([seen.running, seen.waiting], [2, 3]);
    assert.ok(
      seen.kvCacheUsage >= earlier.kvCacheUsage && seen.kvCacheUsage <= later.kvCacheUsage,
      `scraped KV usage ${seen.kvCacheUsage} between the engine's ${earlier.kvCacheUsage} and ${later.kvCacheUsage}`,
    );

    await holds.release();
    await waitFor(() => {
      const now = scraped(router, mock);
      return now !== null && now.running === 0 && now.waiting === 0 && now.kvCacheUsage === 0;
    }, 3000, 'the router to see the engine idle again');
    const idle = await engineStats(mock);
    assert.deepEqual([idle.running, idle.waiting, idle.kvCacheUsage], [0, 0, 0]);
  });
});
