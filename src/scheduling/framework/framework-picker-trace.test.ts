// The picker's optional trace (explanations) and observer (metrics): what they hear, and what a dry run leaves alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecisionRecorder } from '../../observability/explain/decision-recorder.ts';
import type { PodEndpoint } from '../../snapshot/types.ts';
import { FrameworkPicker } from './framework-picker.ts';
import type { SchedulerObserver } from './observer.ts';
import { makeEnv, makePods, makeRequest } from './test-support.ts';
import type { SchedulerPlugin, SchedulerProfile } from './types.ts';

const pods = makePods(3); // p0, p1, p2

const dropP2: SchedulerPlugin = {
  name: 'drop-p2',
  filter(_cycle, candidates, alive) {
    candidates.forEach((pod, i) => {
      if (pod.name === 'p2') alive[i] = 0;
    });
  },
};
const scores: SchedulerPlugin = {
  name: 'fixed',
  score(_cycle, candidates, alive, out) {
    candidates.forEach((pod, i) => {
      if (alive[i] !== 0 && pod.name === 'p1') out[i] = 80; // p0: no opinion (neutral 50)
    });
  },
};
const served: string[] = [];
const hooked: SchedulerPlugin = { name: 'hooked', served: (_cycle, pod: PodEndpoint) => served.push(pod.name) };

function picker(observer: SchedulerObserver | null): FrameworkPicker {
  const profile: SchedulerProfile = { filters: [dropP2], scores: [{ plugin: scores, weight: 2 }], hooks: [hooked], plugins: [dropP2, scores, hooked] };
  return new FrameworkPicker(profile, { podStates: makeEnv().podStates, random: () => 0.5, observer });
}

function recordingObserver(): SchedulerObserver & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    pluginDuration: (model, plugin, type, seconds) => {
      assert.ok(seconds >= 0);
      calls.push(`${model}:${plugin}:${type}`);
    },
    prefixCacheMatch: () => calls.push('match'),
    prefixCacheEviction: () => calls.push('eviction'),
  };
}

describe('FrameworkPicker with a trace and an observer', () => {
  it('reports every filter verdict, every score and the ranking to the trace', () => {
    const recorder = new DecisionRecorder(true, { model: 'm', path: '/v1/completions', rawHeaders: [] });
    const order = picker(null).schedule(makeRequest(), pods, recorder);
    assert.deepEqual(order.map((p) => p.name), ['p1', 'p0']);
    const s = recorder.finish(null).scheduling!;
    assert.deepEqual(s.filters, ['drop-p2']);
    assert.deepEqual(s.scorers, [{ plugin: 'fixed', weight: 2 }]);
    assert.deepEqual(s.candidates.map((c) => [c.pod, c.filters['drop-p2'], c.removedBy, c.rank, c.total]), [
      ['default/p0', 'kept', null, 1, 100],
      ['default/p1', 'kept', null, 0, 160],
      ['default/p2', 'removed', 'drop-p2', null, null],
    ]);
    assert.deepEqual(s.candidates[0].scores.fixed, { score: null, weight: 2, weighted: 100 });
    assert.deepEqual(s.order, ['default/p1', 'default/p0']);
  });

  it('names what ranks a pod down: the load bound, the connection limit, ill health', () => {
    const env = makeEnv();
    const four = makePods(4);
    const profile: SchedulerProfile = { filters: [], scores: [{ plugin: scores, weight: 1 }], hooks: [], plugins: [scores], loadBound: { factor: 1, slack: 1 } };
    const p = new FrameworkPicker(profile, { podStates: env.podStates, random: () => 0.5, maxInFlightPerPod: 3 });
    env.podStates.get(four[1].origin).inFlight = 2; // over the bound: 2 + 1 > (1 x 6 / 4) + 1
    env.podStates.get(four[2].origin).inFlight = 3; // at the connection limit
    env.podStates.reportConnectFailure(four[3].origin, 'ECONNREFUSED');
    const recorder = new DecisionRecorder(true, { model: 'm', path: '/v1/completions', rawHeaders: [] });
    p.schedule(makeRequest(), four, recorder);
    const s = recorder.finish(null).scheduling!;
    assert.deepEqual(s.candidates.map((c) => [c.pod, c.rank, c.rankedAfter, c.healthy]), [
      ['default/p0', 0, null, true],
      ['default/p1', 1, 'load-bound', true],
      ['default/p2', 2, 'connection-limit', true],
      ['default/p3', 3, 'unhealthy', false],
    ]);
  });

  it('says which pod was scored as holding a hot prefix, and leaves the note out otherwise', () => {
    const env = makeEnv();
    const four = makePods(4);
    const cache: SchedulerPlugin = {
      name: 'cache',
      cacheAffinity: true,
      score(_cycle, candidates, alive, out) {
        candidates.forEach((pod, i) => (out[i] = pod.name === 'p0' || pod.name === 'p1' ? 100 : 0));
      },
    };
    const idle: SchedulerPlugin = { name: 'idle', score: (_cycle, candidates, _alive, out) => candidates.forEach((pod, i) => (out[i] = pod.name === 'p3' ? 100 : 0)) };
    const p = new FrameworkPicker({
      filters: [], scores: [{ plugin: cache, weight: 2 }, { plugin: idle, weight: 1 }], hooks: [], plugins: [cache, idle], loadBound: { factor: 1.5, slack: 4 },
    }, { podStates: env.podStates, random: () => 0.5 });
    const explain = () => {
      const recorder = new DecisionRecorder(true, { model: 'm', path: '/v1/completions', rawHeaders: [] });
      p.schedule(makeRequest(), four, recorder);
      return recorder.finish(null);
    };
    assert.ok(!explain().notes.some((n) => n.includes('hold')), 'idle holders: no copy');
    [10, 10, 3, 0].forEach((n, i) => (env.podStates.get(four[i].origin).inFlight = n));
    const copied = explain();
    assert.deepEqual(copied.scheduling!.order[0], 'default/p3');
    assert.equal(copied.scheduling!.candidates[3].total, 300, 'raised by the holders\' cache score');
    assert.ok(copied.notes.some((n) => n.startsWith('default/p3 is scored as if it held the prompt\'s cache')), JSON.stringify(copied.notes));
  });

  it('times every plugin call for metrics, and neither times nor remembers a dry run', () => {
    const observer = recordingObserver();
    const p = picker(observer);
    const live = makeRequest({ model: 'live' });
    p.schedule(live, pods);
    assert.deepEqual(observer.calls, ['live:drop-p2:filter', 'live:fixed:score']);

    const dry = makeRequest({ model: 'dry' });
    p.schedule(dry, pods, new DecisionRecorder(true, { model: 'dry', path: '/v1/completions', rawHeaders: [] }));
    assert.deepEqual(observer.calls, ['live:drop-p2:filter', 'live:fixed:score'], 'a dry run is not traffic');
    served.length = 0;
    p.served(dry, pods[0]);
    assert.deepEqual(served, [], 'a dry run leaves nothing for post-schedule hooks');
    p.served(live, pods[1]);
    assert.deepEqual(served, ['p1']);
  });

  it('a live trace (x-switchyard-explain) is counted and remembered like any request', () => {
    const observer = recordingObserver();
    const p = picker(observer);
    const request = makeRequest({ model: 'explained' });
    p.schedule(request, pods, new DecisionRecorder(false, { model: 'explained', path: '/v1/completions', rawHeaders: [] }));
    assert.equal(observer.calls.length, 2);
    served.length = 0;
    p.served(request, pods[0]);
    assert.deepEqual(served, ['p0']);
  });
});
