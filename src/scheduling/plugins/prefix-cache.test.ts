import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameworkPicker } from '../framework/framework-picker.ts';
import { makeCycle, makeEnv, makePods, makeRequest, rounded, runScore } from '../framework/test-support.ts';
import { leastRequestPlugin } from './least-request.ts';
import type { PrefixCachePlugin } from './prefix-cache.ts';
import { prefixCachePlugin } from './prefix-cache.ts';

const pods = makePods(3);
const create = (args: Record<string, number> = {}): PrefixCachePlugin =>
  prefixCachePlugin.create(prefixCachePlugin.args.parse({ blockSizeToHash: 4, ...args }), makeEnv()) as PrefixCachePlugin;
const cycleFor = (prompt: string, model = 'm') => makeCycle(makeRequest({ upstreamModel: model, body: { prompt } }));

/** Scores a prompt, then records it as served by `servedBy` (when given). */
function serve(plugin: PrefixCachePlugin, prompt: string, servedBy: number | null, model = 'm'): number[] {
  const cycle = cycleFor(prompt, model);
  const scores = runScore(plugin, pods, cycle);
  if (servedBy !== null) plugin.served(cycle, pods[servedBy]);
  return rounded(scores);
}

describe('prefix-cache', () => {
  describe('args', () => {
    it('defaults to Kthena chart values', () => {
      assert.deepEqual(prefixCachePlugin.args.parse({}), { blockSizeToHash: 64, maxBlocksToMatch: 128, maxHashCacheSize: 50000, topKMatches: 5 });
    });
    for (const bad of [{ blockSizeToHash: -1 }, { topKMatches: 2.5 }, { maxHashCacheSize: 'big' }, { blockSize: 64 }]) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(prefixCachePlugin.args.safeParse(bad).success, false));
    }
  });

  describe('hashPrompt', () => {
    const plugin = create({ maxBlocksToMatch: 3 });
    it('cuts the prompt into blocks, the last one partial, at most maxBlocksToMatch', () => {
      assert.equal(plugin.hashPrompt('m', 'abcdefg').length, 2);
      assert.equal(plugin.hashPrompt('m', 'abcdefghijklmnopq').length, 3);
    });
    it('chains: a shared prefix shares the leading hashes, a different start changes all', () => {
      const a = plugin.hashPrompt('m', 'abcdefghijkl');
      const b = plugin.hashPrompt('m', 'abcdefghXXXX');
      const c = plugin.hashPrompt('m', 'Xbcdefghijkl');
      assert.deepEqual([a[0] === b[0], a[1] === b[1], a[2] === b[2]], [true, true, false]);
      assert.ok(a.every((h, k) => h !== c[k]));
    });
    it('is seeded by the model', () => assert.notEqual(plugin.hashPrompt('m', 'abcd')[0], plugin.hashPrompt('n', 'abcd')[0]));
  });

  describe('score', () => {
    it('has no opinion on a request without a prompt', () => {
      const plugin = create();
      assert.deepEqual(rounded(runScore(plugin, pods, makeCycle(makeRequest({ body: { input: 'x' } })))), [NaN, NaN, NaN]);
    });

    const cases: { name: string; history: [string, number][]; prompt: string; model?: string; expected: number[] }[] = [
      { name: 'scores 0 for every pod before anything was served', history: [], prompt: 'abcdefgh', expected: [0, 0, 0] },
      { name: 'scores 100 for the pod that served the same prompt', history: [['abcdefgh', 1]], prompt: 'abcdefgh', expected: [0, 100, 0] },
      { name: 'scores the matched share of the blocks', history: [['abcdefgh', 1]], prompt: 'abcdefghijklmnop', expected: [0, 50, 0] },
      { name: 'takes the longest match per pod', history: [['abcd', 0], ['abcdefghijkl', 2]], prompt: 'abcdefghijklmnop', expected: [25, 0, 75] },
      { name: 'finds nothing for a different first block', history: [['abcdefgh', 1]], prompt: 'Xbcdefgh', expected: [0, 0, 0] },
      { name: 'keeps models apart', history: [['abcdefgh', 1]], prompt: 'abcdefgh', model: 'other', expected: [0, 0, 0] },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const plugin = create();
        for (const [prompt, pod] of c.history) serve(plugin, prompt, pod);
        assert.deepEqual(serve(plugin, c.prompt, null, c.model), c.expected);
      });
    }

    it('matches chat requests rendered as ChatML', () => {
      const plugin = create();
      const chat = (content: string) => makeCycle(makeRequest({ body: { messages: [{ role: 'user', content }] } }));
      const first = chat('the same long conversation');
      runScore(plugin, pods, first);
      plugin.served(first, pods[2]);
      assert.deepEqual(rounded(runScore(plugin, pods, chat('the same long conversation'))), [0, 0, 100]);
    });

    it('scores at most topKMatches pods', () => {
      const plugin = create({ topKMatches: 1 });
      serve(plugin, 'abcdefgh', 0);
      serve(plugin, 'abcdefgh', 1);
      const scores = serve(plugin, 'abcdefgh', null);
      assert.equal(scores.filter((s) => s > 0).length, 1);
    });

    it('does not score pods that are filtered out', () => {
      const plugin = create();
      serve(plugin, 'abcdefgh', 1);
      assert.deepEqual(rounded(runScore(plugin, pods, cycleFor('abcdefgh'), Uint8Array.from([1, 0, 1]))), [0, NaN, 0]);
    });
  });

  describe('through the scheduler (prefix-cache x2, least-request x1)', () => {
    const setup = () => {
      const env = makeEnv();
      const prefix = create();
      const leastRequest = leastRequestPlugin.create(leastRequestPlugin.args.parse({}), env);
      const picker = new FrameworkPicker(
        { filters: [], scores: [{ plugin: prefix, weight: 2 }, { plugin: leastRequest, weight: 1 }], hooks: [prefix], plugins: [prefix, leastRequest] },
        { podStates: env.podStates },
      );
      /** Schedules the prompt and counts it in flight on the pod picked; returns the request and that pod. */
      const send = (prompt: string) => {
        const request = makeRequest({ body: { prompt } });
        const pod = picker.schedule(request, pods)[0];
        env.podStates.get(pod.origin).inFlight++;
        return { request, pod };
      };
      return { env, picker, prefix, send };
    };

    it('sends a prompt whose prefix is still being computed to the pod computing it, before the first is served', () => {
      const { send } = setup();
      const first = send('a long shared system prompt, then question one');
      const followers = [2, 3, 4].map((n) => send(`a long shared system prompt, then question ${n}`));
      assert.deepEqual(followers.map((f) => f.pod.name), [first.pod.name, first.pod.name, first.pod.name]);
      const other = send('something else entirely');
      assert.notEqual(other.pod.name, first.pod.name, 'least-request sends an unrelated prompt elsewhere');
    });

    it('balances identical prompts shorter than a block sent in a burst (no whole block to share), then follows', () => {
      const { picker, send } = setup();
      const burst = [1, 2, 3, 4, 5, 6].map(() => send('abc'));
      assert.deepEqual(pods.map((p) => burst.filter((b) => b.pod === p).length), [2, 2, 2]);
      picker.served(burst[0].request, burst[0].pod); // completed: recorded as Kthena does
      const next = send('abc');
      assert.equal(next.pod, burst[0].pod);
    });

    it('records the partial last block once the request is served', () => {
      const { picker, prefix, send } = setup();
      const { request, pod } = send('abcdefghij'); // blocks abcd, efgh, ij
      const at = pods.indexOf(pod);
      assert.equal(serve(prefix, 'abcdefghij', null)[at], 66.67);
      picker.served(request, pod);
      assert.equal(serve(prefix, 'abcdefghij', null)[at], 100);
    });

    it('also records the pod that served the request when a retry moved it there', () => {
      const { picker, prefix, send } = setup();
      const { request, pod } = send('abcdefghijklmnop');
      const retriedOn = pods.find((p) => p !== pod)!;
      picker.served(request, retriedOn);
      const scores = serve(prefix, 'abcdefghijklmnop', null);
      assert.deepEqual(pods.filter((_, i) => scores[i] === 100).map((p) => p.name).sort(), [pod.name, retriedOn.name].sort());
    });
  });

  describe('store', () => {
    it('keeps at most maxHashCacheSize hashes per pod, evicting the least recently used', () => {
      const plugin = create({ maxHashCacheSize: 3 });
      serve(plugin, 'aaaabbbbcccc', 0);
      serve(plugin, 'ddddeeee', 0);
      assert.equal(plugin.store.sizeOf(pods[0].origin), 3);
      assert.deepEqual(serve(plugin, 'ddddeeee', null), [100, 0, 0], 'recent prompt kept');
      assert.deepEqual(serve(plugin, 'aaaabbbb', null), [0, 0, 0], 'old blocks evicted');
      assert.deepEqual(serve(plugin, 'aaaabbbbcccc', null), [100, 0, 0], 'the newest hash of the old prompt survives');
    });

    it('forgets removed pods', () => {
      const plugin = create();
      serve(plugin, 'abcdefgh', 0);
      serve(plugin, 'abcdefgh', 1);
      plugin.retain(new Set([pods[1].origin, pods[2].origin]));
      assert.equal(plugin.store.sizeOf(pods[0].origin), 0);
      assert.deepEqual(serve(plugin, 'abcdefgh', null), [0, 100, 0]);
      plugin.retain(new Set());
      assert.equal(plugin.store.size, 0);
    });
  });
});
