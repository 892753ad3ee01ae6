import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEnv, makePods, rounded, runFilter, runScore } from '../framework/test-support.ts';
import type { LeastRequestPlugin} from './least-request.ts';
import { leastRequestPlugin } from './least-request.ts';

const pods = makePods(3);
const create = (args: unknown = {}) => {
  const env = makeEnv();
  return { env, plugin: leastRequestPlugin.create(leastRequestPlugin.args.parse(args), env) as LeastRequestPlugin };
};

describe('least-request', () => {
  describe('args', () => {
    const cases: [unknown, number][] = [[{}, 10], [{ maxWaitingRequests: 0 }, 10], [{ maxWaitingRequests: null }, 10], [{ maxWaitingRequests: 3 }, 3]];
    for (const [args, expected] of cases) {
      it(`${JSON.stringify(args)} → maxWaitingRequests ${expected}`, () => assert.equal(create(args).plugin.maxWaitingRequests, expected));
    }
    for (const bad of [{ maxWaitingRequests: -1 }, { maxWaitingRequests: 1.5 }, { maxWaitingRequests: '3' }, { maxWaitingRequest: 3 }]) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(leastRequestPlugin.args.safeParse(bad).success, false));
    }
  });

  describe('filter: waiting < maxWaitingRequests', () => {
    const cases: { name: string; waiting: (number | null)[]; expected: string[] }[] = [
      { name: 'keeps pods below the limit', waiting: [0, 9, 3], expected: ['p0', 'p1', 'p2'] },
      { name: 'removes pods at or above it', waiting: [10, 2, 11], expected: ['p1'] },
      { name: 'removes every pod when all are full', waiting: [10, 10, 10], expected: [] },
      { name: 'keeps pods whose metrics are unknown', waiting: [null, 50, null], expected: ['p0', 'p2'] },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const { env, plugin } = create({ maxWaitingRequests: 10 });
        c.waiting.forEach((w, i) => w !== null && env.engines.stats.set(pods[i].origin, { waiting: w }));
        assert.deepEqual(runFilter(plugin, pods), c.expected);
      });
    }

    it('does not bring back a pod another filter removed', () => {
      const { plugin } = create();
      assert.deepEqual(runFilter(plugin, pods, undefined, Uint8Array.from([1, 0, 1])), ['p0', 'p2']);
    });
  });

  describe('score: base = inFlight + 100·min(max(inFlight − running, 0), waiting), (max − base)/max·100', () => {
    const cases: { name: string; inFlight: number[]; running: (number | null)[]; waiting?: number[]; expected: number[] }[] = [
      { name: 'all idle: all 100', inFlight: [0, 0, 0], running: [0, 0, 0], expected: [100, 100, 100] },
      { name: 'in flight and running alike: by count', inFlight: [4, 2, 0], running: [4, 2, 0], expected: [0, 50, 100] },
      { name: 'requests queued behind the engine weigh 100 each', inFlight: [3, 3, 1], running: [3, 1, 1], expected: [98.52, 0, 99.51] },
      { name: 'unknown running: in flight only', inFlight: [2, 1, 0], running: [null, null, null], expected: [0, 50, 100] },
      {
        // The last scrape predates the requests just sent: they are not running yet in the metrics, nor waiting.
        name: 'requests the engine does not report as waiting are not queued (scrape lag)',
        inFlight: [4, 1, 0],
        running: [4, 0, 0],
        waiting: [0, 0, 0],
        expected: [0, 75, 100],
      },
      { name: 'queued is capped by the engine\'s waiting count', inFlight: [3, 3, 0], running: [1, 1, 0], waiting: [1, 5, 0], expected: [49.26, 0, 100] },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const { env, plugin } = create();
        pods.forEach((pod, i) => {
          env.podStates.get(pod.origin).inFlight = c.inFlight[i];
          const running = c.running[i];
          if (running !== null) env.engines.stats.set(pod.origin, c.waiting === undefined ? { running } : { running, waiting: c.waiting[i] });
        });
        assert.deepEqual(rounded(runScore(plugin, pods)), c.expected);
      });
    }

    it('scores only alive pods, relative to each other', () => {
      const { env, plugin } = create();
      env.podStates.get(pods[0].origin).inFlight = 100;
      env.podStates.get(pods[1].origin).inFlight = 2;
      env.podStates.get(pods[2].origin).inFlight = 1;
      assert.deepEqual(rounded(runScore(plugin, pods, undefined, Uint8Array.from([0, 1, 1]))), [NaN, 0, 50]);
    });
  });
});
