import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouterError } from '../errors/router-error.ts';
import type { CompiledProvider } from '../snapshot/types.ts';
import { providerHeaders, providerPath, remainingTimeoutMs, retryAfterMs } from './provider-backend.ts';

const provider = (type: 'OpenAI' | 'Anthropic', basePath: string, headers: string[] = [], staticHeaderNames: string[] = []): CompiledProvider =>
  ({ key: 'default/p', type, basePath, headers, streamHeaders: headers, staticHeaderNames: new Set(staticHeaderNames) } as unknown as CompiledProvider);

describe('providerPath', () => {
  it('joins OpenAI paths: the request path under an empty base, without its /v1 under any other base, query kept', () => {
    assert.equal(providerPath(provider('OpenAI', ''), '/v1/chat/completions'), '/v1/chat/completions');
    assert.equal(providerPath(provider('OpenAI', '/v1'), '/v1/completions?x=1'), '/v1/completions?x=1');
    assert.equal(providerPath(provider('OpenAI', '/openai/deployments/d'), '/v1/responses'), '/openai/deployments/d/responses');
  });

  it('joins Anthropic paths: /v1 dropped only when the base ends in /v1', () => {
    assert.equal(providerPath(provider('Anthropic', ''), '/v1/messages'), '/v1/messages');
    assert.equal(providerPath(provider('Anthropic', '/proxy/v1'), '/v1/messages'), '/proxy/v1/messages');
    assert.equal(providerPath(provider('Anthropic', '/proxy'), '/v1/messages/count_tokens'), '/proxy/v1/messages/count_tokens');
  });

  it('refuses the paths a provider type does not have', () => {
    for (const [type, path] of [['OpenAI', '/v1/embeddings'], ['OpenAI', '/v1/messages'], ['Anthropic', '/v1/chat/completions']] as const) {
      const result = providerPath(provider(type, ''), path);
      assert.ok(result instanceof RouterError && result.code === 'provider_path_unsupported', `${type} ${path}`);
    }
  });
});

describe('providerHeaders', () => {
  it('keeps only the allow-listed client headers, then the static and credential headers', () => {
    const raw = ['Authorization', 'Bearer client', 'X-Api-Key', 'k', 'Cookie', 'c=1', 'Content-Type', 'application/json', 'X-B3-TraceId', 'abc',
      'anthropic-version', '2023-06-01', 'User-Agent', 'ua', 'Accept-Encoding', 'gzip'];
    const openai = providerHeaders(provider('OpenAI', '', ['authorization', 'Bearer s']), raw, { requestId: 'r', identityEncoding: true });
    assert.deepEqual(openai, ['content-type', 'application/json', 'x-b3-traceid', 'abc', 'authorization', 'Bearer s', 'x-request-id', 'r', 'accept-encoding', 'identity']);
    const anthropic = providerHeaders(provider('Anthropic', '', ['x-api-key', 's']), raw, { requestId: 'r', identityEncoding: false });
    assert.deepEqual(anthropic, ['content-type', 'application/json', 'x-b3-traceid', 'abc', 'anthropic-version', '2023-06-01', 'x-api-key', 's', 'x-request-id', 'r']);
  });

  it('lets spec.headers replace a client header of the same name instead of sending both', () => {
    const raw = ['Anthropic-Version', '2024-01-01', 'Content-Type', 'application/json; charset=utf-8', 'anthropic-beta', 'b1'];
    const staticHeaders = ['anthropic-version', '2023-06-01', 'content-type', 'application/json', 'x-api-key', 's'];
    const anthropic = providerHeaders(provider('Anthropic', '', staticHeaders, ['anthropic-version', 'content-type']), raw, { requestId: 'r', identityEncoding: false });
    assert.deepEqual(anthropic, ['anthropic-beta', 'b1', ...staticHeaders, 'x-request-id', 'r']);
  });
});

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates; null otherwise', () => {
    assert.equal(retryAfterMs('3'), 3000);
    assert.equal(retryAfterMs(undefined), null);
    assert.equal(retryAfterMs('soon'), null);
    assert.equal(retryAfterMs('1.5'), 1500);
    assert.equal(retryAfterMs('-1'), null, 'not a date of 2001, retried at once');
    assert.equal(retryAfterMs('1.2.3'), null);
    const inAMinute = retryAfterMs(new Date(Date.now() + 60_000).toUTCString()) ?? 0;
    assert.ok(inAMinute > 55_000 && inAMinute <= 60_000);
  });
});

describe('remainingTimeoutMs', () => {
  it('gives a retry what is left of the response timeout, rounded up to 1% of it (at least 100 ms), never more than the timeout', () => {
    assert.equal(remainingTimeoutMs(950, 3000), 1000);
    assert.equal(remainingTimeoutMs(1, 3000), 100);
    assert.equal(remainingTimeoutMs(20_001, 60_000), 20_400);
    assert.equal(remainingTimeoutMs(3000, 3000), 3000);
  });
});
