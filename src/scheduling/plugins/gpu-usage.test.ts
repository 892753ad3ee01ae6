import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEnv, makePods, rounded, runScore } from '../framework/test-support.ts';
import { gpuUsagePlugin } from './gpu-usage.ts';

describe('gpu-usage: (1 − KV-cache usage)·100', () => {
  const pods = makePods(4);
  const cases: { name: string; usage: (number | null)[]; expected: number[] }[] = [
    { name: 'scores free cache', usage: [0, 0.25, 1, 0.9], expected: [100, 75, 0, 10] },
    { name: 'clamps out-of-range usage', usage: [1.5, -0.5, 0.5, 0.5], expected: [0, 100, 50, 50] },
    { name: 'has no opinion on unknown usage', usage: [null, 0.5, NaN, 0], expected: [NaN, 50, NaN, 100] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const env = makeEnv();
      c.usage.forEach((u, i) => u !== null && env.engines.stats.set(pods[i].origin, { kvCacheUsage: u }));
      assert.deepEqual(rounded(runScore(gpuUsagePlugin.create({}, env), pods)), c.expected);
    });
  }

  it('takes no args', () => assert.equal(gpuUsagePlugin.args.safeParse({ x: 1 }).success, false));
});
