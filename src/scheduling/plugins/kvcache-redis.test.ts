// kvcache-aware's choice of index source per pod (indexSource), with a real redis-server holding Kthena's keys and a
// real block index for the pod that publishes KV events; prompts given as token ids, so nothing is tokenized.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../../../test/support/redis.ts';
import { kthenaBlockHashes, kthenaBlockKeys } from '../../engines/kthena-redis/block-keys.ts';
import { KthenaRedisClients } from '../../engines/kthena-redis/redis-index.ts';
import { PodBlockIndex } from '../../engines/kv-events/block-index.ts';
import type { KvBlockSource } from '../../engines/kv-events/kv-event-table.ts';
import { makeCycle, makeEnv, makePods, makeRequest } from '../framework/test-support.ts';
import { kvCacheAwarePlugin } from './kvcache-aware.ts';

const IDS = Array.from({ length: 64 }, (_, i) => 1000 + i); // 4 blocks of 16
const pods = makePods(3); // p0 publishes KV events; p1 and p2 do not

describe('kvcache-aware: index source per pod', () => {
  let redis: RedisServer;
  let clients: KthenaRedisClients;
  const events = new PodBlockIndex();
  const kvBlocks: KvBlockSource = {
    trustedIndex: (origin) => (origin === pods[0].origin ? events : null),
    subscribed: (origin) => origin === pods[0].origin,
  };

  before(async () => {
    redis = await startRedis();
    clients = new KthenaRedisClients({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) }, () => undefined);
    const writer = new Redis({ host: '127.0.0.1', port: redis.port });
    const keys = kthenaBlockKeys(kthenaBlockHashes(IDS, 16, 128), ['m']);
    for (const [k, key] of keys.entries()) await writer.hset(key, 'p1.default', '1800000000', ...(k < 1 ? ['p0.default', '1800000000'] : []));
    writer.disconnect();
    // p0's own events: its engine holds the first 3 blocks.
    events.apply({ kind: 'stored', blockHashes: ['1', '2', '3'], parentBlockHash: null, tokenIds: IDS.slice(0, 48), blockSize: 16, lora: null, medium: null });
  });
  after(async () => {
    await clients.close();
    await redis.kill();
  });

  async function scores(args: Record<string, unknown>): Promise<[number[], Record<string, number>[]]> {
    const plugin = kvCacheAwarePlugin.create(kvCacheAwarePlugin.args.parse(args), { ...makeEnv(), kvBlocks, kthenaRedis: clients });
    await clients.ready(5000);
    const request = makeRequest({ body: { model: 'm', prompt: [IDS] } });
    await plugin.prepare!(request, pods);
    const cycle = makeCycle(request);
    cycle.details = new Map();
    const out = new Float64Array(pods.length).fill(NaN);
    plugin.score!(cycle, pods, new Uint8Array(pods.length).fill(1), out);
    return [[...out], pods.map((_, i) => ({ ...cycle.details?.get(i) }))];
  }

  it('auto: events for the pod that publishes them, Redis for the others', async () => {
    const [out, details] = await scores({});
    assert.deepEqual(out, [75, 100, 0]);
    assert.equal(details[0].indexedBlocks, 3);
    assert.deepEqual(details.slice(1), [
      { matchedBlocks: 4, promptBlocks: 4, blockSize: 16, kthenaRedis: 1 },
      { matchedBlocks: 0, promptBlocks: 4, blockSize: 16, kthenaRedis: 1 },
    ]);
  });

  it('redis: every pod from Redis', async () => {
    const [out] = await scores({ indexSource: 'redis' });
    assert.deepEqual(out, [25, 100, 0]);
  });

  it('kv-events: Redis is never read', async () => {
    const [out, details] = await scores({ indexSource: 'kv-events' });
    assert.deepEqual(out.map((s) => (Number.isNaN(s) ? 'none' : s)), [75, 'none', 'none']);
    assert.deepEqual(details.slice(1), [{ trusted: 0 }, { trusted: 0 }]);
  });

  it('a Redis that is not configured leaves the other pods to the events source', async () => {
    const plugin = kvCacheAwarePlugin.create(kvCacheAwarePlugin.args.parse({}), { ...makeEnv(), kvBlocks, kthenaRedis: new KthenaRedisClients({}, () => undefined) });
    const request = makeRequest({ body: { model: 'm', prompt: [IDS] } });
    await plugin.prepare!(request, pods);
    const out = new Float64Array(pods.length).fill(NaN);
    plugin.score!(makeCycle(request), pods, new Uint8Array(pods.length).fill(1), out);
    assert.deepEqual([...out].map((s) => (Number.isNaN(s) ? 'none' : s)), [75, 'none', 'none']);
  });

  it("Kthena's default host that did not answer the start-up probe: no pod is scored from Redis", async () => {
    const closed = await startRedis();
    await closed.kill();
    const probing = new KthenaRedisClients({ REDIS_PORT: String(closed.port) }, () => undefined, '127.0.0.1');
    const plugin = kvCacheAwarePlugin.create(kvCacheAwarePlugin.args.parse({}), { ...makeEnv(), kvBlocks, kthenaRedis: probing });
    await probing.ready(5000);
    const request = makeRequest({ body: { model: 'm', prompt: [IDS] } });
    await plugin.prepare!(request, pods);
    const cycle = makeCycle(request);
    cycle.details = new Map();
    const out = new Float64Array(pods.length).fill(NaN);
    plugin.score!(cycle, pods, new Uint8Array(pods.length).fill(1), out);
    assert.deepEqual([...out].map((s) => (Number.isNaN(s) ? 'none' : s)), [75, 'none', 'none']);
    assert.deepEqual([cycle.details.get(1), cycle.details.get(2)], [{ trusted: 0 }, { trusted: 0 }]);
    await probing.close();
  });

  it('refuses a malformed redisAddress and an unknown indexSource', () => {
    assert.equal(kvCacheAwarePlugin.args.safeParse({ redisAddress: 'a:b:c' }).success, false);
    assert.equal(kvCacheAwarePlugin.args.safeParse({ indexSource: 'sidecar' }).success, false);
    assert.equal(kvCacheAwarePlugin.args.safeParse({ redisAddress: '[::1]:6380', indexSource: 'redis', redisTimeoutMs: 100 }).success, true);
  });
});
