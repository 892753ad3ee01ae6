// The Kthena index client against a real redis-server on a loopback port: one pipelined HGETALL per lookup, bounded
// by its timeout when Redis hangs, failing at once while Redis is down, and Kthena's environment variables.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../../../test/support/redis.ts';
import { KthenaRedisClients, kthenaRedisAddress } from './redis-index.ts';

describe("Kthena's Redis index client", () => {
  let redis: RedisServer;
  let clients: KthenaRedisClients;
  const errors: string[] = [];

  before(async () => {
    redis = await startRedis();
    clients = new KthenaRedisClients({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) }, (_address, message) => errors.push(message));
  });
  after(async () => {
    redis.resume();
    await clients.close();
    await redis.kill();
  });

  it('answers every key in order, an absent key as an empty hash', async () => {
    const writer = new Redis({ host: '127.0.0.1', port: redis.port });
    await writer.hset('matrix:kv:block:m@1', 'p-0.default', '100', 'p-1.default', '200');
    await writer.hset('matrix:kv:block:m@3', 'p-1.default', '300');
    writer.disconnect();
    const index = clients.resolve()!;
    assert.equal(index, clients.resolve(), 'one client per address');
    assert.ok(await clients.ready(5000));
    const result = await index.lookup(['matrix:kv:block:m@1', 'matrix:kv:block:m@2', 'matrix:kv:block:m@3'], 5000);
    assert.ok(result.ok, result.ok ? '' : result.reason);
    assert.deepEqual(result.replies.map((r) => ({ ...r })), [{ 'p-0.default': '100', 'p-1.default': '200' }, {}, { 'p-1.default': '300' }]);
  });

  it('gives up after the timeout while Redis hangs, and answers again when it is back', async () => {
    const index = clients.resolve()!;
    redis.pause();
    const result = await index.lookup(['matrix:kv:block:m@1'], 100);
    assert.deepEqual(result, { ok: false, reason: `Redis 127.0.0.1:${redis.port} did not answer within 100 ms` });
    redis.resume();
    const again = await index.lookup(['matrix:kv:block:m@1'], 5000);
    assert.ok(again.ok);
  });

  // A lookup that waited for its (10-minute) timeout would fail the test by the test's own timeout.
  it('fails at once while Redis is down', { timeout: 30_000 }, async () => {
    const index = clients.resolve()!;
    await redis.kill();
    let result = await index.lookup(['matrix:kv:block:m@1'], 600_000);
    // The client may notice the closed connection only with this lookup; the next one is refused before sending.
    if (result.ok) result = await index.lookup(['matrix:kv:block:m@1'], 600_000);
    assert.equal(result.ok, false);
  });

  it("probes Kthena's default host once when REDIS_HOST is unset (in a cluster), and gives up for good if it fails", async () => {
    const live = await startRedis();
    const probing = new KthenaRedisClients({ REDIS_PORT: String(live.port) }, () => undefined, '127.0.0.1');
    const index = probing.resolve()!;
    assert.ok(await probing.ready(5000));
    assert.ok((await index.lookup(['matrix:kv:block:m@1'], 5000)).ok, 'used when it answers');
    await probing.close();
    await live.kill();
    const messages: string[] = [];
    const absent = new KthenaRedisClients({ REDIS_PORT: String(live.port) }, (_address, message) => messages.push(message), '127.0.0.1');
    const gone = absent.resolve()!;
    assert.ok(await absent.ready(5000), 'a failed probe settles the start-up wait');
    assert.equal(gone.active, false);
    assert.deepEqual(messages, ["Kthena's default Redis host did not answer at start-up; its KV block index is not read"]);
    await absent.close();
    assert.equal(new KthenaRedisClients({}, () => undefined).resolve(), null, 'outside a cluster nothing is tried');
  });

  it("reads Kthena's REDIS_HOST, REDIS_PORT and REDIS_PASSWORD; redisAddress overrides host and port", () => {
    assert.equal(kthenaRedisAddress({}), null, 'nothing without REDIS_HOST');
    assert.deepEqual(kthenaRedisAddress({ REDIS_HOST: 'redis-server' }), { host: 'redis-server', port: 6379 });
    assert.deepEqual(kthenaRedisAddress({ REDIS_HOST: 'r', REDIS_PORT: '7000', REDIS_PASSWORD: 's3cret' }), { host: 'r', port: 7000, password: 's3cret' });
    assert.deepEqual(kthenaRedisAddress({ REDIS_HOST: 'r', REDIS_PASSWORD: 'pw' }, '[::1]:7001'), { host: '::1', port: 7001, password: 'pw' });
    assert.deepEqual(kthenaRedisAddress({}, 'kv-redis'), { host: 'kv-redis', port: 6379 });
    assert.deepEqual(kthenaRedisAddress({}, null, 'redis-server'), { host: 'redis-server', port: 6379, probeOnce: true });
    assert.deepEqual(kthenaRedisAddress({ REDIS_HOST: 'r' }, null, 'redis-server'), { host: 'r', port: 6379 });
  });
});
