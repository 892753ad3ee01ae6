import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { parseCountAtLeastOne, parseDurationMs, parsePort, parsePositiveInt } from './flag-values.ts';

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

describe('number flags', () => {
  it('refuse an empty value (Number("") is 0: --port "" listened on a random port)', () => {
    for (const parse of [parsePort, parsePositiveInt, parseCountAtLeastOne]) {
      for (const value of ['', ' ']) assert.throws(() => parse(value), InvalidArgumentError, `${parse.name}(${JSON.stringify(value)})`);
    }
    assert.equal(parsePort('0'), 0);
    assert.equal(parsePositiveInt('0'), 0);
  });

  it('--max-connections takes 1 or more: 0 is not "no limit"', () => {
    assert.throws(() => parseCountAtLeastOne('0'), /expected a whole number >= 1/);
    assert.equal(parseCountAtLeastOne('1'), 1);
    assert.equal(parseCountAtLeastOne('10000'), 10_000);
  });
});
