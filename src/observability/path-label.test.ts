import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pathLabel } from './metrics.ts';

describe('metrics path label', () => {
  it('keeps the API paths, one label per stored-response endpoint whatever the id, and "unknown" for the rest', () => {
    assert.equal(pathLabel('/v1/chat/completions?x=1'), '/v1/chat/completions');
    assert.equal(pathLabel('/v1/responses/resp_1?stream=true'), '/v1/responses/{response_id}');
    assert.equal(pathLabel('/v1/responses/resp_2/cancel'), '/v1/responses/{response_id}/cancel');
    assert.equal(pathLabel('/v1/responses/resp_2/input_items'), '/v1/responses/{response_id}/input_items');
    assert.equal(pathLabel('/v1/responses/resp_2/other'), 'unknown');
    assert.equal(pathLabel('/admin'), 'unknown');
  });
});
