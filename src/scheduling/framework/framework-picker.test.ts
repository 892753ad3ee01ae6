import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PodEndpoint } from '../../snapshot/types.ts';
import { FrameworkPicker } from './framework-picker.ts';
import { makeEnv, makePods, makeRequest } from './test-support.ts';
import type { SchedulerPlugin, SchedulerProfile } from './types.ts';

/** A score plugin giving fixed scores by pod name (missing names: no opinion). */
const fixedScores = (name: string, scores: Record<string, number>): SchedulerPlugin => ({
  name,
  score(_cycle, pods, alive, out) {
    pods.forEach((pod, i) => {
      if (alive[i] !== 0 && pod.name in scores) out[i] = scores[pod.name];
    });
  },
});

/** A filter plugin removing the named pods. */
const removing = (...names: string[]): SchedulerPlugin => ({
  name: `remove-${names.join('-')}`,
  filter(_cycle, pods, alive) {
    pods.forEach((pod, i) => {
      if (names.includes(pod.name)) alive[i] = 0;
    });
  },
});

const throwing: SchedulerPlugin = {
  name: 'broken',
  filter() {
    throw new Error('filter bug');
  },
  score(_cycle, _pods, _alive, out) {
    out[0] = 100;
    throw new Error('score bug');
  },
};

function profile(filters: SchedulerPlugin[], scores: [SchedulerPlugin, number][]): SchedulerProfile {
  const plugins = [...new Set([...filters, ...scores.map(([p]) => p)])];
  return { filters, scores: scores.map(([plugin, weight]) => ({ plugin, weight })), hooks: plugins.filter((p) => p.served !== undefined), plugins };
}

const names = (pods: readonly PodEndpoint[]): string[] => pods.map((p) => p.name);

describe('FrameworkPicker', () => {
  const pods = makePods(3); // p0, p1, p2

  const cases: { name: string; filters: SchedulerPlugin[]; scores: [SchedulerPlugin, number][]; expected: string[] }[] = [
    { name: 'orders by score, best first', filters: [], scores: [[fixedScores('a', { p0: 10, p1: 90, p2: 50 }), 1]], expected: ['p1', 'p2', 'p0'] },
    {
      name: 'sums scores with weights',
      filters: [],
      scores: [[fixedScores('a', { p0: 100, p1: 0, p2: 40 }), 1], [fixedScores('b', { p0: 0, p1: 100, p2: 40 }), 3]],
      expected: ['p1', 'p2', 'p0'],
    },
    {
      name: 'gives the neutral 50 to pods a plugin did not score',
      filters: [],
      scores: [[fixedScores('a', { p0: 49, p2: 51 }), 1]],
      expected: ['p2', 'p1', 'p0'],
    },
    { name: 'clamps scores to 0-100', filters: [], scores: [[fixedScores('a', { p0: 1000, p1: 100, p2: -5 }), 1], [fixedScores('b', { p0: 0, p1: 1, p2: 0 }), 1]], expected: ['p1', 'p0', 'p2'] },
    { name: 'ignores a plugin with weight 0', filters: [], scores: [[fixedScores('a', { p0: 100, p1: 0, p2: 0 }), 0], [fixedScores('b', { p0: 0, p1: 0, p2: 100 }), 1]], expected: ['p2', 'p0', 'p1'] },
    { name: 'drops filtered pods from the result', filters: [removing('p1')], scores: [[fixedScores('a', { p0: 0, p1: 100, p2: 50 }), 1]], expected: ['p2', 'p0'] },
    { name: 'applies filters in sequence', filters: [removing('p0'), removing('p2')], scores: [], expected: ['p1'] },
    { name: 'returns nothing when the filters remove every pod', filters: [removing('p0', 'p1'), removing('p2')], scores: [], expected: [] },
    {
      name: 'treats a throwing plugin as having no opinion',
      filters: [throwing],
      scores: [[throwing, 5], [fixedScores('a', { p0: 0, p1: 100, p2: 50 }), 1]],
      expected: ['p1', 'p2', 'p0'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const env = makeEnv();
      const errors: string[] = [];
      const picker = new FrameworkPicker(profile(c.filters, c.scores), {
        podStates: env.podStates,
        random: () => 0.5,
        onPluginError: (plugin, stage) => errors.push(`${plugin}/${stage}`),
      });
      assert.deepEqual(names(picker.schedule(makeRequest(), pods)), c.expected);
      if (c.filters.includes(throwing)) assert.deepEqual(errors, ['broken/filter', 'broken/score']);
    });
  }

  it('tells the score plugins with a picked hook which pod the request goes to', () => {
    const picked: string[] = [];
    const watcher: SchedulerPlugin = { ...fixedScores('w', { p0: 10, p1: 90, p2: 50 }), picked: (_cycle, pod) => void picked.push(pod.name) };
    const picker = new FrameworkPicker(profile([], [[watcher, 1]]), { podStates: makeEnv().podStates });
    assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p1', 'p2', 'p0']);
    assert.deepEqual(picked, ['p1']);
  });

  it('puts pods at their connection limit after the others, and unhealthy pods after those', () => {
    const env = makeEnv();
    const picker = new FrameworkPicker(profile([], [[fixedScores('a', { p0: 100, p1: 90, p2: 10 }), 1]]), {
      podStates: env.podStates,
      maxInFlightPerPod: 2,
    });
    env.podStates.get(pods[0].origin).inFlight = 2;
    env.podStates.get(pods[1].origin).inFlight = 1;
    assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p1', 'p2', 'p0']);
    env.podStates.reportConnectFailure(pods[1].origin, 'ECONNREFUSED');
    assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p2', 'p0', 'p1']);
  });

  describe('load bound', () => {
    const favourite = fixedScores('affinity', { p0: 100, p1: 10, p2: 0 });
    const bounded = (loadBound: SchedulerProfile['loadBound']) => {
      const env = makeEnv();
      const picker = new FrameworkPicker({ ...profile([], [[favourite, 1]]), loadBound }, { podStates: env.podStates, maxInFlightPerPod: 100 });
      return { env, picker };
    };

    it('lets the scores decide while the favourite holds less than factor x its share plus slack', () => {
      const { env, picker } = bounded({ factor: 1.25, slack: 2 });
      env.podStates.get(pods[0].origin).inFlight = 2; // 2 + 1 <= (1.25 x 3 / 3) + 2 = 3.25
      assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p0', 'p1', 'p2']);
    });

    it('ranks a pod above the bound after the pods within it, whatever its score, and still returns it', () => {
      const { env, picker } = bounded({ factor: 1.25, slack: 2 });
      env.podStates.get(pods[0].origin).inFlight = 3; // 3 + 1 > (1.25 x 4 / 3) + 2 = 3.67
      assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p1', 'p2', 'p0']);
    });

    it('grows with the load: the same pod is within the bound when every pod is busy', () => {
      const { env, picker } = bounded({ factor: 1.25, slack: 2 });
      for (const [i, n] of [[0, 10], [1, 8], [2, 8]] as const) env.podStates.get(pods[i].origin).inFlight = n;
      assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p0', 'p1', 'p2']);
    });

    it('ranks within the bound, then over it, then at the connection limit, then unhealthy', () => {
      const env = makeEnv();
      const four = makePods(4);
      const reverse = fixedScores('reverse', { p0: 0, p1: 10, p2: 20, p3: 100 });
      const picker = new FrameworkPicker({ ...profile([], [[reverse, 1]]), loadBound: { factor: 1, slack: 1 } }, { podStates: env.podStates, maxInFlightPerPod: 3 });
      env.podStates.get(four[1].origin).inFlight = 2; // over the bound: 2 + 1 > (1 x 6 / 4) + 1 = 2.5
      env.podStates.get(four[2].origin).inFlight = 3; // at the connection limit
      env.podStates.reportConnectFailure(four[3].origin, 'ECONNREFUSED');
      assert.deepEqual(names(picker.schedule(makeRequest(), four)), ['p0', 'p1', 'p2', 'p3']);
    });

    it('has no effect without a bound (loadBound null or absent)', () => {
      const { env, picker } = bounded(null);
      env.podStates.get(pods[0].origin).inFlight = 50;
      assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p0', 'p1', 'p2']);
    });

    describe('a copy of a hot prefix', () => {
      const four = makePods(4); // p0-p3
      /** Cache scores (as prefix-cache gives them): p0 and p1 hold the prompt. */
      const cache = (held: Record<string, number>, cacheAffinity = true): SchedulerPlugin => ({ ...fixedScores('cache', held), cacheAffinity });
      /** Least-request-like: the idle pods score best. */
      const balance = fixedScores('balance', { p0: 0, p1: 0, p2: 100, p3: 90 });
      const setUp = (held: Record<string, number>, loads: readonly number[], loadBound: SchedulerProfile['loadBound'], cacheAffinity = true) => {
        const env = makeEnv();
        four.forEach((pod, i) => (env.podStates.get(pod.origin).inFlight = loads[i]));
        const picker = new FrameworkPicker({ ...profile([], [[cache(held, cacheAffinity), 2], [balance, 1]]), loadBound }, { podStates: env.podStates, maxInFlightPerPod: 100, random: () => 0.5 });
        return picker.schedule(makeRequest(), four);
      };
      const twoHolders = { p0: 100, p1: 100, p2: 0, p3: 0 };

      it('gives the prompt to the least busy other pod when every holder is above its fair share and slack above it', () => {
        // fair share (21 + 1) / 4 = 5.5; bound 1.5 x 5.5 + 4 = 12.25: both holders within it, so only the copy moves p2 up
        assert.deepEqual(names(setUp(twoHolders, [10, 10, 0, 1], { factor: 1.5, slack: 4 })), ['p2', 'p0', 'p1', 'p3']);
      });

      it('leaves the holders first while the least busy other pod is less than slack requests below them', () => {
        assert.deepEqual(names(setUp(twoHolders, [4, 4, 1, 1], { factor: 1.5, slack: 4 })), ['p0', 'p1', 'p2', 'p3']);
      });

      it('leaves the holders first while one of them is within its fair share', () => {
        // fair share (14 + 1) / 4 = 3.75: p0 and p1 hold 2 each; p3 is over the bound (1.5 x 3.75 + 0)
        assert.deepEqual(names(setUp(twoHolders, [2, 2, 0, 10], { factor: 1.5, slack: 0 })), ['p0', 'p1', 'p2', 'p3']);
      });

      it('never moves a prompt only one pod holds (a conversation\'s history)', () => {
        // fair share 9 / 4 = 2.25, bound 1.5 x 2.25 + 8 = 11.4: p0 within it, 8 above the idle pods, alone with the prompt
        assert.deepEqual(names(setUp({ p0: 100, p1: 0, p2: 0, p3: 0 }, [8, 0, 0, 0], { factor: 1.5, slack: 8 })), ['p0', 'p2', 'p3', 'p1']);
      });

      it('does not count an unhealthy pod as a holder: two healthy busy holders are needed', () => {
        const five = makePods(5); // p4 holds the prompt too, but is unhealthy and idle
        const env = makeEnv();
        [9, 9, 0, 1, 0].forEach((n, i) => (env.podStates.get(five[i].origin).inFlight = n)); // p0, p1 within the bound (10 with five pods)
        env.podStates.reportConnectFailure(five[4].origin, 'ECONNREFUSED');
        const held = { ...twoHolders, p4: 100 };
        const schedule = (unhealthyHolder: boolean) => {
          const pods = unhealthyHolder ? five : four;
          const picker = new FrameworkPicker({ ...profile([], [[cache(held), 2], [balance, 1]]), loadBound: { factor: 1.5, slack: 4 } }, { podStates: env.podStates, maxInFlightPerPod: 100, random: () => 0.5 });
          return names(picker.schedule(makeRequest(), pods))[0];
        };
        assert.equal(schedule(false), 'p2');
        assert.equal(schedule(true), 'p2', 'the idle unhealthy holder does not hide that the healthy ones are busy');
      });

      it('reads only the plugins marked as cache affinity, and only with a load bound', () => {
        assert.deepEqual(names(setUp(twoHolders, [10, 10, 0, 1], { factor: 1.5, slack: 4 }, false)), ['p0', 'p1', 'p2', 'p3']);
        assert.deepEqual(names(setUp(twoHolders, [10, 10, 0, 1], null)), ['p0', 'p1', 'p2', 'p3']);
      });
    });
  });

  it('puts unhealthy pods last, best first among them, and still returns them', () => {
    const env = makeEnv();
    const picker = new FrameworkPicker(profile([], [[fixedScores('a', { p0: 100, p1: 50, p2: 90 }), 1]]), { podStates: env.podStates });
    env.podStates.reportConnectFailure(pods[0].origin, 'ECONNREFUSED');
    env.podStates.reportProbe(pods[2].origin, false, 'probe failed');
    assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p1', 'p0', 'p2']);
  });

  it('breaks ties at random', () => {
    const env = makeEnv();
    const seen = new Set<string>();
    const random = [0.9, 0.1, 0.5, 0.2, 0.7, 0.4];
    let k = 0;
    const picker = new FrameworkPicker(profile([], []), { podStates: env.podStates, random: () => random[k++ % random.length] });
    for (let i = 0; i < 6; i++) seen.add(picker.schedule(makeRequest(), pods)[0].name);
    assert.ok(seen.size > 1, `always ${[...seen].join()}`);
    // Each pod's tie key is its random draw: the lowest draw goes first.
    k = 0;
    assert.deepEqual(names(picker.schedule(makeRequest(), pods)), ['p1', 'p2', 'p0']);
  });

  it('returns an empty list for no candidates and handles one', () => {
    const picker = new FrameworkPicker(profile([], []), { podStates: makeEnv().podStates });
    assert.deepEqual(picker.schedule(makeRequest(), []), []);
    assert.deepEqual(names(picker.schedule(makeRequest(), pods.slice(0, 1))), ['p0']);
  });

  it('grows its scratch arrays for large pod lists', () => {
    const many = makePods(40);
    const scores = Object.fromEntries(many.map((p, i) => [p.name, i]));
    const picker = new FrameworkPicker(profile([], [[fixedScores('a', scores), 1]]), { podStates: makeEnv().podStates });
    const result = picker.schedule(makeRequest(), many);
    assert.equal(result.length, 40);
    assert.equal(result[0].name, 'p39');
    assert.equal(result[39].name, 'p0');
  });

  it('runs post-schedule hooks of the profile that scheduled the request, once', () => {
    const served: string[] = [];
    const hook: SchedulerPlugin = { name: 'hook', score() {}, served: (_cycle, pod) => void served.push(pod.name) };
    const picker = new FrameworkPicker(profile([], [[hook, 1]]), { podStates: makeEnv().podStates });
    const request = makeRequest();
    const chosen = picker.schedule(request, pods)[0];
    picker.setProfile(profile([], []));
    picker.served(request, chosen);
    picker.served(request, chosen);
    picker.served(makeRequest(), chosen); // never scheduled: ignored
    assert.deepEqual(served, [chosen.name]);
  });

  it('retires the plugin instances a new profile no longer has, not those it kept', () => {
    const retired: string[] = [];
    const plugin = (name: string): SchedulerPlugin => ({ name, score() {}, retire: () => void retired.push(name) });
    const kept = plugin('kept');
    const picker = new FrameworkPicker(profile([], [[kept, 1], [plugin('replaced'), 1]]), { podStates: makeEnv().podStates });
    picker.setProfile(profile([], [[kept, 1], [plugin('new'), 1]]));
    assert.deepEqual(retired, ['replaced']);
  });

  it('forwards retain to the plugins that keep per-pod state', () => {
    const kept: string[][] = [];
    const stateful: SchedulerPlugin = { name: 's', score() {}, retain: (origins) => void kept.push([...origins.keys()]) };
    const picker = new FrameworkPicker(profile([], [[stateful, 1]]), { podStates: makeEnv().podStates });
    picker.retain(new Set(['http://a']));
    assert.deepEqual(kept, [['http://a']]);
  });
});
