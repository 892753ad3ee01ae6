import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { parseDurationMs } from './flag-values.ts';

describe('parseDurationMs (duration flags)', () => {
  it('reads Go durations and bare seconds', () => {
    assert.equal(parseDurationMs('30s'), 30_000);
    assert.equal(parseDurationMs('1m30s'), 90_000);
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('2.5'), 2500);
    assert.equal(parseDurationMs('0'), 0);
    assert.equal(parseDurationMs('596h31m23.647s'), 2 ** 31 - 1);
  });

  it('refuses negative durations and durations no timer can wait', () => {
    for (const value of ['-5s', '596h31m23.648s', '600h', '2562047h', '2147484']) {
      assert.throws(() => parseDurationMs(value), (err: unknown) => err instanceof InvalidArgumentError && /from 0 to 596h31m23\.647s/.test(err.message), value);
    }
    assert.throws(() => parseDurationMs('abc'), /expected a duration such as 30s/);
  });
});
