import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storedResponseMethodAllowed, storedResponseTarget } from './stored-response-path.ts';

describe('stored-response paths', () => {
  it('name one response and what to do with it; anything else is no such path', () => {
    assert.deepEqual(storedResponseTarget('/v1/responses/resp_0a1B'), { id: 'resp_0a1B', action: 'retrieve' });
    assert.deepEqual(storedResponseTarget('/v1/responses/resp_1/cancel'), { id: 'resp_1', action: 'cancel' });
    assert.deepEqual(storedResponseTarget('/v1/responses/resp_1/input_items'), { id: 'resp_1', action: 'input_items' });
    for (const path of ['/v1/responses', '/v1/responses/', '/v1/responses/a/b', '/v1/responses/a/cancel/', '/v1/responses/%2e%2e', '/v1/responses/a.b', `/v1/responses/${'x'.repeat(201)}`]) {
      assert.equal(storedResponseTarget(path), null, path);
    }
  });

  it("take OpenAI's methods", () => {
    assert.ok(storedResponseMethodAllowed('retrieve', 'GET') && storedResponseMethodAllowed('retrieve', 'DELETE'));
    assert.ok(!storedResponseMethodAllowed('retrieve', 'POST') && !storedResponseMethodAllowed('cancel', 'GET') && !storedResponseMethodAllowed('input_items', 'DELETE'));
  });
});
