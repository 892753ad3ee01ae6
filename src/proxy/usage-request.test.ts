import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { streamUsageEdit } from './usage-request.ts';

const edited = (body: object): unknown => {
  const text = Buffer.from(JSON.stringify(body));
  const edit = streamUsageEdit('/v1/chat/completions', text, (body as { stream_options?: unknown }).stream_options);
  if (edit === null) return null;
  if ('json' in edit) return JSON.parse(edit.json) as unknown;
  return 'value' in edit ? edit.value : 'removed';
};

describe('streamUsageEdit', () => {
  it('asks for usage, keeping the client options, unless asked already', () => {
    assert.deepEqual(edited({ stream: true }), { include_usage: true });
    assert.deepEqual(edited({ stream: true, stream_options: null }), { include_usage: true });
    assert.deepEqual(edited({ stream: true, stream_options: { include_usage: false, continuous_usage_stats: true } }), { include_usage: true, continuous_usage_stats: true });
    assert.equal(edited({ stream: true, stream_options: { include_usage: true } }), null);
  });

  it('leaves stream_options of the wrong type for the engine to refuse', () => {
    for (const options of ['yes', [1], 3, { include_usage: 'yes' }, { include_usage: 1 }]) {
      assert.equal(edited({ stream: true, stream_options: options }), null, JSON.stringify(options));
    }
  });

  it('does not touch APIs that report usage anyway', () => {
    assert.equal(streamUsageEdit('/v1/responses', Buffer.from('{}'), undefined), null);
    assert.equal(streamUsageEdit('/v1/messages', Buffer.from('{}'), undefined), null);
  });
});
