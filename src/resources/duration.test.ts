import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkGoDuration, parseGoDuration } from './duration.ts';

describe('parseGoDuration (Go time.ParseDuration)', () => {
  const valid: [string, number][] = [
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['100ms', 100],
    ['1.5s', 1_500],
    ['500us', 0.5],
    ['500µs', 0.5],
    ['500μs', 0.5],
    ['250ns', 0.00025],
    ['2h', 7_200_000],
    ['1h2m3.5s', 3_723_500],
    ['0', 0],
    ['0s', 0],
    ['.5s', 500],
    ['1.s', 1_000],
    ['+5ms', 5],
    ['-1s', -1_000],
    ['1.1s', 1_100],
  ];
  for (const [text, ms] of valid) {
    it(`${JSON.stringify(text)} is ${ms} ms`, () => assert.equal(parseGoDuration(text), ms));
  }

  const invalid: [string, string][] = [
    ['', 'empty'],
    ['10', 'missing unit'],
    ['s', 'expected a number'],
    ['.s', 'expected a number'],
    ['1x', 'unknown unit "x"'],
    ['1.2.3s', 'missing unit'],
    ['1 s', 'unknown unit " s"'],
    ['-', 'empty'],
    ['10S', 'unknown unit "S"'],
    ['9223372037s', 'out of range'],
  ];
  for (const [text, reason] of invalid) {
    it(`${JSON.stringify(text)} is invalid: ${reason}`, () => {
      assert.equal(parseGoDuration(text), null);
      const result = checkGoDuration(text);
      assert.ok(!result.ok && result.error.includes(reason), JSON.stringify(result));
    });
  }
});
