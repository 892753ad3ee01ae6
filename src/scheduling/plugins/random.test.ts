import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEnv, makePods, runScore } from '../framework/test-support.ts';
import { randomPlugin } from './random.ts';

describe('random', () => {
  it('gives each alive pod a whole number in [0, 100]', () => {
    const scores = runScore(randomPlugin.create({}, makeEnv([0, 0.999999, 0.5])), makePods(4), undefined, Uint8Array.from([1, 1, 1, 0]));
    assert.deepEqual(scores.slice(0, 3), [0, 100, 50]);
    assert.ok(Number.isNaN(scores[3]));
  });
});
