// What prefix-cache reports to metrics: occupancy (entries), evictions by model, and the best match ratio per attempt.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SchedulingCycle } from '../framework/cycle.ts';
import type { SchedulerObserver } from '../framework/observer.ts';
import { makePods, makeRequest } from '../framework/test-support.ts';
import { PrefixCachePlugin } from './prefix-cache.ts';
import { PrefixStore } from './prefix-store.ts';

function observer(): SchedulerObserver & { evicted: string[]; ratios: number[] } {
  const evicted: string[] = [];
  const ratios: number[] = [];
  return { evicted, ratios, pluginDuration: () => undefined, prefixCacheMatch: (_m, r) => ratios.push(r), prefixCacheEviction: (m) => evicted.push(m) };
}

describe('prefix-cache metrics', () => {
  it('counts (hash, pod) entries and reports each eviction under the model it came from', () => {
    const store = new PrefixStore(2);
    const o = observer();
    store.add('http://a', [1, 2], 'model-x', o);
    store.add('http://b', [1], 'model-y', o);
    assert.equal(store.entries, 3);
    store.add('http://a', [3], 'model-y', o); // a is full: its oldest entry (1, of model-x) goes
    assert.deepEqual(o.evicted, ['model-x']);
    assert.equal(store.entries, 3);
    store.add('http://a', [3, 2], 'model-y', o); // already held: refreshed, nothing evicted
    assert.deepEqual(o.evicted, ['model-x']);
    store.retain(new Set(['http://b']));
    assert.equal(store.entries, 1, 'a removed pod takes its entries with it (not counted as evictions)');
    assert.deepEqual(o.evicted, ['model-x']);
  });

  it('reports the best match ratio of each attempt: 0 on a miss, the longest prefix held by any candidate', () => {
    const plugin = new PrefixCachePlugin({ blockSizeToHash: 4, maxBlocksToMatch: 128, maxHashCacheSize: 100, topKMatches: 5 });
    const pods = makePods(2);
    const o = observer();
    const score = (prompt: string): void => {
      const cycle = new SchedulingCycle(makeRequest({ body: { prompt } }), Date.now(), { filters: [], scores: [], hooks: [], plugins: [] }, o);
      plugin.score(cycle, pods, new Uint8Array([1, 1]), new Float64Array(2).fill(NaN));
      plugin.served(cycle, pods[0]);
    };
    score('aaaabbbbcccc'); // nothing cached yet
    score('aaaabbbbdddd'); // the first 2 of 3 blocks are held by p0
    score('aaaabbbbdddd');
    assert.deepEqual(o.ratios, [0, 2 / 3, 1]);
    const silent = new SchedulingCycle(makeRequest({ body: { prompt: 'aaaa' } }), Date.now(), { filters: [], scores: [], hooks: [], plugins: [] });
    plugin.score(silent, pods, new Uint8Array([1, 1]), new Float64Array(2).fill(NaN));
    assert.equal(o.ratios.length, 3, 'without an observer nothing is reported');
  });
});
