import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalBackend, type LimitSpec } from './bucket-backend.ts';
import { formatDuration } from './rate-limiter.ts';
import { parseAddress } from './redis-backend.ts';
import { bucketSpec } from './token-bucket.ts';

const spec = (input: number | null, output: number | null): LimitSpec => ({
  key: 'ns/m',
  inputKey: 'ns/m:input',
  outputKey: 'ns/m:output',
  input: input === null ? null : bucketSpec(input, 'hour'),
  output: output === null ? null : bucketSpec(output, 'hour'),
  ttlSeconds: 600,
});

describe('local token buckets', () => {
  it('take input estimates until the budget is spent, then say how long to wait', () => {
    const backend = new LocalBackend();
    const s = spec(30, null);
    for (const expected of [20, 10, 0]) {
      const c = backend.check(s, 10);
      assert.equal(c.refused, null);
      assert.ok(c.inputLevel >= expected && c.inputLevel < expected + 0.01);
    }
    const refused = backend.check(s, 10);
    assert.equal(refused.refused, 'input_tokens');
    // 10 tokens at 30 an hour: about 20 minutes.
    assert.ok(refused.waitMs > 19 * 60_000 && refused.waitMs <= 20 * 60_000, String(refused.waitMs));
  });

  it('let a prompt larger than the whole budget pass when the bucket is full, leaving it in debt (Kthena: never)', () => {
    const backend = new LocalBackend();
    const s = spec(30, null);
    const big = backend.check(s, 34);
    assert.equal(big.refused, null);
    assert.ok(big.inputLevel < -3.9);
    assert.equal(backend.check(s, 1).refused, 'input_tokens');
  });

  it('charge all reported output tokens, beyond what is left, and refuse while under one token remains', () => {
    const backend = new LocalBackend();
    const s = spec(null, 20);
    assert.equal(backend.check(s, 5).refused, null, 'input is not limited');
    backend.charge(s, 25);
    const refused = backend.check(s, 5);
    assert.equal(refused.refused, 'output_tokens');
    assert.ok(refused.outputLevel < -4.9);
  });

  it('take back a refunded request: its input tokens return, never above the capacity', () => {
    const backend = new LocalBackend();
    const s = spec(30, null);
    backend.check(s, 20);
    assert.equal(backend.check(s, 20).refused, 'input_tokens');
    backend.refund(s, 20);
    const again = backend.check(s, 20);
    assert.equal(again.refused, null, 'the refunded tokens are there again');
    backend.refund(s, 20);
    backend.refund(s, 1000);
    assert.ok(backend.check(s, 0).inputLevel <= 30, 'capped at the capacity');
    assert.equal(backend.check(s, 31).refused, null, 'a full bucket');
  });

  it('keep levels across a reload that keeps the key, and forget dropped keys', () => {
    const backend = new LocalBackend();
    backend.check(spec(30, null), 30);
    backend.retain([spec(30, null)]);
    assert.equal(backend.check(spec(30, null), 10).refused, 'input_tokens', 'the spent budget survived the reload');
    backend.retain([]);
    assert.equal(backend.check(spec(30, null), 10).refused, null, 'a removed and re-added limit starts full');
  });
});

describe('rate-limit helpers', () => {
  it('formats reset durations as OpenAI does (Go durations)', () => {
    assert.equal(formatDuration(0), '0ms');
    assert.equal(formatDuration(250.2), '251ms');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(3_723_000), '1h2m3s');
  });

  it('parses Redis addresses', () => {
    assert.deepEqual(parseAddress('redis.kthena-system.svc:6380'), { host: 'redis.kthena-system.svc', port: 6380 });
    assert.deepEqual(parseAddress('redis'), { host: 'redis', port: 6379 });
    assert.deepEqual(parseAddress('[::1]:7000'), { host: '::1', port: 7000 });
  });
});
