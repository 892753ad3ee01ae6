import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPathPolicy, DEFAULT_INFERENCE_PATHS, invalidAllowedPath } from './path-policy.ts';

describe('path policy', () => {
  const policy = createPathPolicy();
  it('forwards the inference API paths', () => {
    for (const path of DEFAULT_INFERENCE_PATHS) assert.equal(policy.allows(path), true, path);
    assert.ok(DEFAULT_INFERENCE_PATHS.includes('/v1/chat/completions'));
  });
  it('refuses engine admin paths and anything spelt differently', () => {
    for (const path of [
      '/v1/load_lora_adapter', '/v1/unload_lora_adapter', '/v1/models', '/v1/..%2fmetrics', '/v1/%252e%252e/', '/v1/%2e%2e/metrics',
      '/v1//completions', '/v1/./completions', '/v1/chat/../completions', '/v1/completions/', '/v1/%63ompletions', '/v1/COMPLETIONS',
      '/v1/completions;x', '/v1/chat/completions/..', '/v1/tokenize', '/v1/audio/transcriptions',
    ]) {
      assert.equal(policy.allows(path), false, path);
    }
  });
  it('an operator may allow more plain paths', () => {
    const extended = createPathPolicy(['/v1/tokenize', '/v1/detokenize']);
    assert.equal(extended.allows('/v1/tokenize'), true);
    assert.equal(extended.allows('/v1/completions'), true);
    assert.equal(extended.allows('/v1/load_lora_adapter'), false);
  });
  it('refuses to allow paths that are not plain', () => {
    for (const path of ['v1/x', '/v1/../x', '/v1/./x', '/v1//x', '/v1/%2e', '/v1/x/', '/v1/x?y', '/']) {
      assert.notEqual(invalidAllowedPath(path), null, path);
    }
    assert.equal(invalidAllowedPath('/v1/tokenize'), null);
    assert.equal(invalidAllowedPath('/v2/files/a.b..c'), null);
  });
});
