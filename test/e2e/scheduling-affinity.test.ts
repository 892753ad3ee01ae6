// The affinity plugins through the real router against simulated engines: prefix-cache (the engines' own prefix
// caches show the gain), lora-affinity (adapters in limited LoRA slots, lists scraped from /v1/models) and
// session-affinity's bounded load (a hot session spills over to one other pod instead of swamping its own).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { client, createEnv, get, mockStats, post, waitFor, type TestEnv } from '../support/harness.ts';
import { BASE, Holds, describeSpread, engineStats, spread, startScheduledRouter, startSimulated, writePods, type SchedulerSettings } from '../support/scheduling.ts';

/** Four ~2 KB documents, each asked six questions in turn (sequentially: each request sees the previous ones served). */
const DOCUMENTS = 4;
const QUESTIONS = 6;
const document = (d: number): string => Array.from({ length: 330 }, (_, w) => `doc${d}-word${w}`).join(' ');

interface PrefixRun {
  /** Document → pods (x-mock-instance) that answered its questions. */
  readonly podsPerDocument: Set<string>[];
  /** Prefix-cache hit tokens over every engine, from GET /mock/stats. */
  readonly hits: number;
  readonly queries: number;
  /** Same, from the engines' /metrics counters. */
  readonly hitsFromMetrics: number;
}

async function prefixRun(settings: SchedulerSettings): Promise<PrefixRun> {
  const env = await createEnv();
  try {
    const mocks = [await startSimulated(env, 'c0'), await startSimulated(env, 'c1'), await startSimulated(env, 'c2')];
    await writePods(env, mocks);
    const router = await startScheduledRouter(env, settings);
    const podsPerDocument = Array.from({ length: DOCUMENTS }, () => new Set<string>());
    for (let q = 0; q < QUESTIONS; q++) {
      for (let d = 0; d < DOCUMENTS; d++) {
        const res = await post(`${router.url}/v1/completions`, { model: BASE, prompt: `${document(d)}\nQuestion ${q}: what is word ${q * 7}?`, max_tokens: 2 });
        assert.equal(res.status, 200, res.text);
        podsPerDocument[d].add(String(res.headers['x-mock-instance']));
      }
    }
    let hits = 0;
    let queries = 0;
    let hitsFromMetrics = 0;
    for (const mock of mocks) {
      const stats = await engineStats(mock);
      hits += stats.prefixCacheHits;
      queries += stats.prefixCacheQueries;
      const line = /^vllm:prefix_cache_hits_total\{[^}]*\} (\S+)$/m.exec((await get(`${mock.url}/metrics`)).text);
      hitsFromMetrics += Number(line?.[1]);
    }
    return { podsPerDocument, hits, queries, hitsFromMetrics };
  } finally {
    await env.cleanup();
  }
}

describe('affinity plugins against simulated engines', () => {
  describe('prefix-cache: repeated long shared-prefix prompts', () => {
    let withPrefixCache: PrefixRun;
    let randomOnly: PrefixRun;

    before(async () => {
      // The same workload twice, on fresh engines: prefix-cache alone (Kthena's default args), then random alone.
      [withPrefixCache, randomOnly] = await Promise.all([
        prefixRun({
          scores: [{ name: 'prefix-cache' }],
          args: { 'prefix-cache': { blockSizeToHash: 64, maxBlocksToMatch: 128, maxHashCacheSize: 50000, topKMatches: 5 } },
        }),
        prefixRun({ scores: [{ name: 'random' }] }),
      ]);
    });

    it('go to the pod that already served them: each document stays on one pod', () => {
      withPrefixCache.podsPerDocument.forEach((pods, d) => assert.equal(pods.size, 1, `document ${d} went to ${[...pods].join(', ')}`));
      assert.ok(randomOnly.podsPerDocument.some((pods) => pods.size > 1), 'random alone moves documents between pods');
    });

    it("make the engines' prefix caches hit more than with random alone", () => {
      assert.equal(withPrefixCache.hits, withPrefixCache.hitsFromMetrics, '/mock/stats and /metrics agree');
      assert.equal(randomOnly.hits, randomOnly.hitsFromMetrics, '/mock/stats and /metrics agree');
      // Every repeat of a document hits: at least 5 of every 6 prompts are served from the cache, almost whole.
      assert.ok(withPrefixCache.hits > 0.75 * withPrefixCache.queries, `prefix-cache: ${withPrefixCache.hits} of ${withPrefixCache.queries} tokens hit`);
      assert.ok(
        withPrefixCache.hits > randomOnly.hits,
        `prefix-cache: ${withPrefixCache.hits} hit tokens, random: ${randomOnly.hits} (of ${randomOnly.queries})`,
      );
    });
  });

  describe('prefix-cache: the Responses and Messages APIs', () => {
    let env: TestEnv;
    let router: RouterApp;

    before(async () => {
      env = await createEnv();
      const mocks = [await startSimulated(env, 'r0'), await startSimulated(env, 'r1'), await startSimulated(env, 'r2')];
      await writePods(env, mocks);
      router = await startScheduledRouter(env, {
        scores: [{ name: 'prefix-cache' }],
        args: { 'prefix-cache': { blockSizeToHash: 64, maxBlocksToMatch: 128, maxHashCacheSize: 50000, topKMatches: 5 } },
      });
    });
    after(() => env.cleanup());

    /** Document → pods that answered the questions about it, asking each document's questions in turn. */
    const podsPerDocument = async (path: string, body: (doc: string, question: string) => Record<string, unknown>): Promise<Set<string>[]> => {
      const pods = Array.from({ length: DOCUMENTS }, () => new Set<string>());
      for (let q = 0; q < QUESTIONS; q++) {
        for (let d = 0; d < DOCUMENTS; d++) {
          const res = await post(`${router.url}${path}`, { model: BASE, ...body(document(d), `Question ${q}: what is word ${q * 7}?`) });
          assert.equal(res.status, 200, res.text);
          pods[d].add(String(res.headers['x-mock-instance']));
        }
      }
      return pods;
    };

    // Before, a Responses request had no prompt for prefix-cache (no opinion, so any pod), and a Messages request's
    // prompt left out its `system`: requests sharing only their question went together, a document's did not.
    it('keeps each document given as Responses instructions or input on one pod', async () => {
      const byInstructions = await podsPerDocument('/v1/responses', (doc, question) => ({ instructions: doc, input: question, max_output_tokens: 2 }));
      byInstructions.forEach((pods, d) => assert.equal(pods.size, 1, `document ${d} went to ${[...pods].join(', ')}`));
      const byInput = await podsPerDocument('/v1/responses', (doc, question) => ({
        input: [{ role: 'user', content: [{ type: 'input_text', text: doc }] }, { role: 'user', content: question }],
        max_output_tokens: 2,
      }));
      byInput.forEach((pods, d) => assert.equal(pods.size, 1, `document ${d} went to ${[...pods].join(', ')}`));
    });

    it('keeps each document given as the Messages system prompt on one pod', async () => {
      const pods = await podsPerDocument('/v1/messages', (doc, question) => ({ system: [{ type: 'text', text: doc }], messages: [{ role: 'user', content: question }], max_tokens: 2 }));
      pods.forEach((served, d) => assert.equal(served.size, 1, `document ${d} went to ${[...served].join(', ')}`));
    });
  });

  describe('lora-affinity: adapters in limited LoRA slots', () => {
    let env: TestEnv;
    let mocks: MockEngineHandle[];
    let router: RouterApp;

    before(async () => {
      env = await createEnv();
      const lora = { maxLoras: 1, loraLoadMs: 30, decodeMsBase: 2 };
      mocks = [
        await startSimulated(env, 'a0', { ...lora, loraAdapters: ['lora-A'] }),
        await startSimulated(env, 'a1', { ...lora, loraAdapters: ['lora-A'] }),
        await startSimulated(env, 'b', { ...lora, loraAdapters: ['lora-B'] }),
      ];
      await writePods(env, mocks, [
        [
          'apiVersion: networking.serving.volcano.sh/v1alpha1',
          'kind: ModelRoute',
          'metadata: {name: adapters, namespace: default}',
          'spec:',
          '  loraAdapters: [lora-A, lora-B, lora-C]',
          '  rules:',
          '  - name: adapters',
          '    targetModels:',
          '    - modelServerName: base',
        ].join('\n'),
      ]);
      router = await startScheduledRouter(env, { filters: ['lora-affinity'], scores: [{ name: 'random' }] });
      await waitFor(() => mocks.every((m) => router.engines.models(m.url, Date.now()) !== null), 3000, 'model lists scraped');
    });
    after(() => env.cleanup());

    it('sends each adapter only to the pods whose /v1/models lists it', async () => {
      // A pod without the adapter would answer 404 (spread() insists on 200).
      const forA = await spread(router, 20, (i) => ({ model: 'lora-A', prompt: `a ${i}` }), { concurrency: 4 });
      assert.equal(forA.get('b') ?? 0, 0, describeSpread(forA));
      assert.ok((forA.get('a0') ?? 0) > 0 && (forA.get('a1') ?? 0) > 0, `both pods with lora-A serve it (${describeSpread(forA)})`);
      const forB = await spread(router, 10, (i) => ({ model: 'lora-B', prompt: `b ${i}` }), { concurrency: 4 });
      assert.deepEqual([...forB], [['b', 10]]);
      // The adapter was loaded into the pod's single slot once and stayed there.
      const b = await engineStats(mocks[2]);
      assert.deepEqual([b.loras.resident, b.loras.loads], [['lora-B'], 1]);
    });

    it('follows an adapter loaded at runtime once the scrape sees it', async () => {
      const loaded = await post(`${mocks[1].url}/v1/load_lora_adapter`, { lora_name: 'lora-C', lora_path: '/adapters/c' });
      assert.equal(loaded.status, 200);
      await waitFor(() => router.engines.models(mocks[1].url, Date.now())?.has('lora-C') === true, 3000, 'lora-C scraped');
      const forC = await spread(router, 10, (i) => ({ model: 'lora-C', prompt: `c ${i}` }), { concurrency: 2 });
      assert.deepEqual([...forC], [['a1', 10]]);
      assert.ok((await engineStats(mocks[1])).loras.resident.includes('lora-C'));
    });
  });

  describe('session-affinity: bounded load', () => {
    let env: TestEnv;
    let mocks: MockEngineHandle[];
    let router: RouterApp;
    const holds = new Holds();
    const session = { 'x-session-id': 'hot' };

    before(async () => {
      env = await createEnv();
      mocks = [await startSimulated(env, 's0', { decodeMsBase: 5 }), await startSimulated(env, 's1', { decodeMsBase: 5 }), await startSimulated(env, 's2', { decodeMsBase: 5 })];
      await writePods(env, mocks);
      router = await startScheduledRouter(env, {
        scores: [
          { name: 'least-request', weight: 1 },
          { name: 'session-affinity', weight: 10 },
        ],
        args: { 'session-affinity': { headerName: 'X-Session-ID', loadFactor: 1.25 } },
      });
    });
    after(async () => {
      await holds.release();
      await env.cleanup();
    });

    it('spills a hot session over to one other pod while its own is overloaded, and returns home after', async () => {
      const home = await spread(router, 5, () => ({}), { headers: session });
      assert.equal(home.size, 1, `one pod for the session while it is idle (${describeSpread(home)})`);
      const homePod = [...home.keys()][0];

      // Six long streams of the session at once. With loadFactor 1.25 over 3 pods, its pod may hold at most
      // ceil(1.25·(total+1)/3): the streams alternate between it and the next pod on the ring (3 + 3); without the
      // bound all six would stay home, without the plugin least-request would spread them 2 + 2 + 2.
      await holds.open(router.url, 6, { model: BASE }, session);
      const inFlight = new Map<string, number>();
      for (const mock of mocks) {
        const stats = await mockStats(mock);
        if (stats.inFlight > 0) inFlight.set(stats.instance, stats.inFlight);
      }
      const atHome = inFlight.get(homePod) ?? 0;
      assert.ok(atHome >= 2 && atHome <= 4, `the session's pod holds some of the 6 streams, not all (${describeSpread(inFlight)})`);
      assert.equal(inFlight.size, 2, `the overflow goes to one other pod (${describeSpread(inFlight)})`);

      await holds.release();
      await waitFor(async () => (await Promise.all(mocks.map(mockStats))).every((s) => s.inFlight === 0), 3000, 'streams ended');
      const back = await spread(router, 5, () => ({}), { headers: session });
      assert.deepEqual([...back], [[homePod, 5]], 'the session is back on its own pod');
    });
  });

  describe('Responses API: previous_response_id', () => {
    let env: TestEnv;
    let router: RouterApp;
    let mocks: MockEngineHandle[];
    before(async () => {
      env = await createEnv();
      mocks = [await startSimulated(env, 'r0'), await startSimulated(env, 'r1'), await startSimulated(env, 'r2')];
      await writePods(env, mocks);
      // Random choice: without the owner's pod first, each follow-up would land on another pod two times in three.
      router = await startScheduledRouter(env, { scores: [{ name: 'random' }] });
    });
    after(() => env.cleanup());

    it('sends each follow-up to the pod that stores the response it continues, streamed or not', async () => {
      const openai = client(router);
      const first = await openai.responses.create({ model: BASE, input: 'Tell me a story.', max_output_tokens: 3 }).withResponse();
      const home = first.response.headers.get('x-mock-instance');
      let previous = first.data.id;
      for (let turn = 1; turn <= 6; turn++) {
        const input = `Go on, part ${turn}.`;
        if (turn % 2 === 0) {
          const stream = await openai.responses.create({ model: BASE, input, previous_response_id: previous, max_output_tokens: 3, stream: true }).withResponse();
          assert.equal(stream.response.headers.get('x-mock-instance'), home, `turn ${turn} (streamed)`);
          for await (const event of stream.data) if (event.type === 'response.completed') previous = event.response.id;
        } else {
          const next = await openai.responses.create({ model: BASE, input, previous_response_id: previous, max_output_tokens: 3 }).withResponse();
          assert.equal(next.response.headers.get('x-mock-instance'), home, `turn ${turn}`);
          assert.equal(next.data.previous_response_id, previous);
          previous = next.data.id;
        }
      }
    });

    it('a previous_response_id the router never relayed is scheduled as usual (the engine answers 404)', async () => {
      const res = await post(`${router.url}/v1/responses`, { model: BASE, input: 'hi', previous_response_id: 'resp_unknown', max_output_tokens: 2 });
      assert.equal(res.status, 404, res.text);
      assert.match(res.text, /Response with id 'resp_unknown' not found/);
    });
  });
});
