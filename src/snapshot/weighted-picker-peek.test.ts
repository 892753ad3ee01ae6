import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WeightedPicker } from './weighted-picker.ts';

describe('WeightedPicker.peek', () => {
  it('always names what next() returns, and changes nothing', () => {
    for (const weights of [[70, 30], [1, 1, 1], [0, 5, 3], [100], [50, 0, 50, 25]]) {
      const picker = new WeightedPicker(weights.map((_, i) => `t${i}`), weights, weights.join(','));
      for (let i = 0; i < 40; i++) {
        const state = picker.state();
        const peeked = picker.peek();
        assert.equal(picker.peek(), peeked);
        assert.deepEqual(picker.state(), state, 'peek leaves the running weights alone');
        assert.equal(picker.next(), peeked, `weights ${weights.join('/')} step ${i}`);
      }
    }
  });

  it('is undefined when every weight is 0', () => {
    assert.equal(new WeightedPicker(['a', 'b'], [0, 0], '').peek(), undefined);
  });
});
