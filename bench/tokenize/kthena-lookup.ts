// kvcache-aware's lookup in Kthena's Redis index, per request: Kthena's block hashes of the prompt's token ids, the
// keys, one pipelined HGETALL round trip to a redis-server on a loopback port, and the owner walk over 8 candidate
// pods. Every block is held by 3 of them (a shared prompt). p50/p99 at 1k and 10k prompt tokens, with Kthena's
// maxBlocksToMatch 128 (10k tokens are then cut to 128 blocks) and with 1024 (the whole 10k prompt, 625 blocks).
// Printed by `npm run bench:tokenize` after the tokenization table; alone: `node bench/tokenize/kthena-lookup.ts`.
import { Redis } from 'ioredis';
import { kthenaBlockHashes, kthenaBlockKeys } from '../../src/engines/kthena-redis/block-keys.ts';
import { KthenaRedisClients } from '../../src/engines/kthena-redis/redis-index.ts';
import { KthenaRedisMatcher } from '../../src/scheduling/plugins/kvcache-redis.ts';
import type { ScheduleRequest } from '../../src/scheduling/pod-picker.ts';
import type { PodEndpoint } from '../../src/snapshot/types.ts';
import { startRedis } from '../../test/support/redis.ts';

const MODEL = 'bench/model';
const BLOCK = 16;
const CASES: readonly { tokens: number; maxBlocks: number; rounds: number }[] = [
  { tokens: 1_000, maxBlocks: 128, rounds: 300 },
  { tokens: 10_000, maxBlocks: 128, rounds: 300 },
  { tokens: 10_000, maxBlocks: 1024, rounds: 100 },
];

function percentiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99) };
}

export async function measureKthenaLookup(write: (line: string) => void): Promise<void> {
  const redis = await startRedis();
  const clients = new KthenaRedisClients({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) }, (_a, message) => write(`redis: ${message}`));
  const writer = new Redis({ host: '127.0.0.1', port: redis.port });
  try {
    const index = clients.resolve()!;
    await clients.ready(5000);
    const pods: PodEndpoint[] = Array.from({ length: 8 }, (_, i) => ({
      podKey: `default/pod-${i}`, namespace: 'default', name: `pod-${i}`, ip: '10.0.0.1', port: 8000, origin: `http://10.0.0.${i + 1}:8000`,
      labels: {}, annotations: {}, startedAt: 1_700_000_000,
    }));
    const request = { model: MODEL, upstreamModel: MODEL, isLora: false } as ScheduleRequest;
    write('\nkvcache-aware lookup in Kthena\'s Redis index (hash + one pipelined HGETALL + owner walk; 8 pods, 3 owners per block)\n');
    write('tokens    maxBlocks  blocks   hashing p50 ms   lookup p50/p99 ms\n');
    for (const { tokens, maxBlocks, rounds } of CASES) {
      const matcher = new KthenaRedisMatcher(index, { blockSize: BLOCK, maxBlocks, timeoutMs: 5000 }, null);
      const prompts = Array.from({ length: 4 }, (_, p) => Array.from({ length: tokens }, (_, i) => (i * 7919 + p * 104729) % 150_000));
      for (const [p, ids] of prompts.entries()) {
        const keys = kthenaBlockKeys(kthenaBlockHashes(ids, BLOCK, maxBlocks), [MODEL]);
        const pipe = writer.pipeline();
        for (const key of keys) for (let o = 0; o < 3; o++) pipe.hset(key, `pod-${(p + o) % 8}.default`, '1800000000');
        await pipe.exec();
      }
      const hashing: number[] = [];
      const lookups: number[] = [];
      let blocks = 0;
      for (let r = 0; r < rounds + 10; r++) {
        const ids = prompts[r % prompts.length];
        let t = performance.now();
        kthenaBlockHashes(ids, BLOCK, maxBlocks);
        const hashMs = performance.now() - t;
        t = performance.now();
        const match = await matcher.match(request, ids, pods, () => true);
        const lookupMs = performance.now() - t;
        if (!match.ok) throw new Error(match.reason);
        blocks = match.blocks;
        if (r < 10) continue; // warm-up
        hashing.push(hashMs);
        lookups.push(lookupMs);
      }
      const { p50, p99 } = percentiles(lookups);
      write(`${String(tokens).padEnd(8)}  ${String(maxBlocks).padStart(9)}  ${String(blocks).padStart(6)}  ${percentiles(hashing).p50.toFixed(3).padStart(15)}  ${`${p50.toFixed(2)} / ${p99.toFixed(2)}`.padStart(18)}\n`);
    }
  } finally {
    writer.disconnect();
    await clients.close();
    await redis.kill();
  }
}

if (import.meta.main) await measureKthenaLookup((line) => process.stdout.write(line));
