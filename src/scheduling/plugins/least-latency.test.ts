import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEnv, makePods, rounded, runScore } from '../framework/test-support.ts';
import type { LeastLatencyPlugin} from './least-latency.ts';
import { leastLatencyPlugin } from './least-latency.ts';

const pods = makePods(3);

describe('least-latency', () => {
  describe('args', () => {
    const valid: [unknown, number][] = [[{}, 0.5], [{ TTFTTPOTWeightFactor: 0 }, 0], [{ TTFTTPOTWeightFactor: 1 }, 1], [{ TTFTTPOTWeightFactor: 0.25 }, 0.25]];
    for (const [args, expected] of valid) {
      it(`${JSON.stringify(args)} → factor ${expected}`, () => {
        assert.equal((leastLatencyPlugin.create(leastLatencyPlugin.args.parse(args), makeEnv()) as LeastLatencyPlugin).factor, expected);
      });
    }
    for (const bad of [{ TTFTTPOTWeightFactor: 1.5 }, { TTFTTPOTWeightFactor: -0.1 }, { TTFTTPOTWeightFactor: Infinity }, { TTFTTPOTWeightFactor: NaN }, { factor: 0.5 }]) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(leastLatencyPlugin.args.safeParse(bad).success, false));
    }
  });

  type Latency = [number, number] | null;
  const cases: { name: string; factor: number; latency: Latency[]; expected: number[] }[] = [
    { name: 'min-max scales TTFT and TPOT and mixes them', factor: 0.5, latency: [[0.1, 0.01], [0.3, 0.03], [0.2, 0.01]], expected: [100, 0, 75] },
    { name: 'factor 1: TTFT only', factor: 1, latency: [[0.1, 0.05], [0.3, 0.01], [0.2, 0.01]], expected: [100, 0, 50] },
    { name: 'factor 0: TPOT only', factor: 0, latency: [[0.1, 0.05], [0.3, 0.01], [0.2, 0.03]], expected: [0, 100, 50] },
    { name: 'all equal: 100 each', factor: 0.5, latency: [[0.2, 0.02], [0.2, 0.02], [0.2, 0.02]], expected: [100, 100, 100] },
    { name: 'not measured or unknown: no opinion', factor: 0.5, latency: [[0.1, 0.01], [0, 0.02], null], expected: [100, NaN, NaN] },
    { name: 'nothing measured: no opinion at all', factor: 0.5, latency: [null, [0, 0], null], expected: [NaN, NaN, NaN] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const env = makeEnv();
      c.latency.forEach((l, i) => l !== null && env.engines.stats.set(pods[i].origin, { ttftSeconds: l[0], tpotSeconds: l[1] }));
      const plugin = leastLatencyPlugin.create(leastLatencyPlugin.args.parse({ TTFTTPOTWeightFactor: c.factor }), env);
      assert.deepEqual(rounded(runScore(plugin, pods)), c.expected);
    });
  }
});
