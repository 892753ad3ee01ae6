import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageWindow } from './usage-window.ts';

describe('UsageWindow', () => {
  const weights = { windowMs: 60_000, inputTokenWeight: 1, outputTokenWeight: 2 };

  it('counts weighted usage within the window and forgets it after', () => {
    let now = 1_000_000;
    const window = new UsageWindow(weights, () => now);
    window.record('alice', 'm', 10, 5);
    assert.deepEqual(window.usage('alice', 'm'), { tokens: 20, requests: 1 });
    now += 61_000;
    assert.deepEqual(window.usage('alice', 'm'), { tokens: 0, requests: 0 });
    assert.equal(window.trackedUsers, 0);
  });

  it('forgets users seen once whose window emptied, even if nobody asks for them again', () => {
    let now = 1_000_000;
    const window = new UsageWindow(weights, () => now);
    // Users are client-chosen with userHeader (or every authenticated caller): each one seen once.
    for (let i = 0; i < 1000; i++) window.record(`user-${i}`, 'm', 10, 5);
    assert.equal(window.trackedUsers, 1000);
    now += 2 * weights.windowMs + 1000;
    for (let i = 0; i < 1000; i++) window.record(`later-${i}`, 'm', 10, 5);
    assert.equal(window.trackedUsers, 1000, 'only the users of the current window are kept');
    assert.deepEqual(window.usage('later-0', 'm'), { tokens: 20, requests: 1 });
  });
});
