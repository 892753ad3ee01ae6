import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureTraceContext, newTraceparent, traceIdOf } from './trace-context.ts';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('W3C trace context', () => {
  it('reads the trace id of valid traceparents only', () => {
    assert.equal(traceIdOf(VALID), '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(traceIdOf('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future'), '4bf92f3577b34da6a3ce929d0e0e4736');
    for (const invalid of [
      '', 'garbage',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // version 00 has exactly four fields
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    ]) {
      assert.equal(traceIdOf(invalid), null, invalid);
    }
  });

  it('creates version-00 sampled traceparents with random ids', () => {
    const made = Array.from({ length: 500 }, () => newTraceparent());
    for (const t of made) {
      assert.match(t, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.notEqual(traceIdOf(t), null);
    }
    assert.equal(new Set(made.map((t) => t.slice(3, 35))).size, 500);
  });

  it('keeps a valid traceparent and its tracestate', () => {
    const headers = ['content-type', 'application/json', 'TraceParent', VALID, 'tracestate', 'a=1'];
    assert.equal(ensureTraceContext(headers), '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.deepEqual(headers, ['content-type', 'application/json', 'TraceParent', VALID, 'tracestate', 'a=1']);
  });

  it('adds one when absent', () => {
    const headers = ['accept', '*/*'];
    const traceId = ensureTraceContext(headers);
    assert.equal(headers.length, 4);
    assert.equal(headers[2], 'traceparent');
    assert.equal(headers[3].slice(3, 35), traceId);
  });

  it('replaces an invalid or repeated traceparent and drops the tracestate that came with it', () => {
    for (const given of [['traceparent', 'nope', 'tracestate', 'a=1'], ['traceparent', VALID, 'traceparent', VALID], ['tracestate', 'orphan=1']]) {
      const headers = ['x-a', '1', ...given];
      const traceId = ensureTraceContext(headers);
      assert.deepEqual(headers.slice(0, 2), ['x-a', '1']);
      assert.deepEqual(headers.slice(2).filter((_, i) => i % 2 === 0), ['traceparent'], JSON.stringify(given));
      assert.equal(traceIdOf(headers[3]), traceId);
    }
  });
});
