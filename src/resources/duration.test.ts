import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkGoDuration, checkTimerDuration, MAX_TIMER_MS, parseGoDuration } from './duration.ts';

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

describe('checkTimerDuration (a duration that becomes a timer)', () => {
  it('the maximum is Node\'s longest timer, 596h31m23.647s', () => {
    assert.equal(MAX_TIMER_MS, 2 ** 31 - 1);
    assert.equal(parseGoDuration('596h31m23.647s'), MAX_TIMER_MS);
  });
  const cases: [string, number, boolean][] = [
    ['10s', 10_000, false],
    ['0', 0, false],
    ['596h31m23.647s', MAX_TIMER_MS, false],
    ['596h31m23.648s', MAX_TIMER_MS, true],
    ['600h', MAX_TIMER_MS, true],
    ['2562047h', MAX_TIMER_MS, true],
  ];
  for (const [text, ms, clamped] of cases) {
    it(`${JSON.stringify(text)} is ${ms} ms${clamped ? ', clamped' : ''}`, () => assert.deepEqual(checkTimerDuration(text), { ok: true, ms, clamped }));
  }
  it('a negative duration is invalid', () => assert.deepEqual(checkTimerDuration('-5s'), { ok: false, error: 'must not be negative, got "-5s"' }));
  it('invalid text has the parser\'s reason', () => {
    const result = checkTimerDuration('90');
    assert.ok(!result.ok && result.error.includes('missing unit'), JSON.stringify(result));
  });
});
