import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResourceObject } from '../resources/parse-object.ts';
import { redisAddressProblem } from './redis-address.ts';

describe('redisAddressProblem', () => {
  it('accepts host:port, a bare host and bracketed IPv6', () => {
    for (const address of ['redis:6379', '127.0.0.1:6380', 'redis-master.cache.svc.cluster.local:6379', 'redis', '[::1]:6379', '[fd00::2]']) {
      assert.equal(redisAddressProblem(address), null, address);
    }
  });

  it('refuses a scheme, a port that is not one, and an empty host', () => {
    for (const address of ['redis://127.0.0.1:6379', '127.0.0.1:99999', '127.0.0.1:port', '127.0.0.1:0', ':6379', '127.0.0.1:']) {
      assert.notEqual(redisAddressProblem(address), null, address);
    }
  });

  it("is an error on a ModelRoute's global.redis.address, so the reload that brings it is refused", () => {
    const parsed = parseResourceObject({
      apiVersion: 'networking.serving.volcano.sh/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'r' },
      spec: { modelName: 'm', rules: [{ targetModels: [{ modelServerName: 's' }] }], rateLimit: { inputTokensPerUnit: 10, unit: 'minute', global: { redis: { address: '127.0.0.1:99999' } } } },
    });
    assert.equal(parsed.resource, undefined);
    assert.deepEqual(parsed.problems.map((p) => [p.path, p.severity]), [['spec.rateLimit.global.redis.address', 'error']]);
  });
});
