// Rate-limit check benchmark: `npm run bench:rate-limit`.
//
// Times the rate-limit stage's per-request work on a limited route: one bucket check (input estimate taken, output
// level read) against local buckets (in-process, synchronous) and against Redis (one EVALSHA of the bucket script
// through the route's ioredis client, on a redis-server started on a loopback port), then the output-token charge
// the response side makes. Redis is timed sequentially (latency of one check) and with 64 checks in flight
// (throughput a busy router gets from one connection). The budget is large enough that nothing is refused.
//
// Options: --iterations N (checks measured per case; 200000 local, a tenth of it for Redis)
import { parseArgs } from 'node:util';
import { LocalBackend, type LimitSpec } from '../../src/filters/rate-limit/bucket-backend.ts';
import { RedisBackend } from '../../src/filters/rate-limit/redis-backend.ts';
import { bucketSpec } from '../../src/filters/rate-limit/token-bucket.ts';
import { startRedis } from '../../test/support/redis.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200000' } } });
const iterations = Number(values.iterations);
const spec: LimitSpec = {
  key: 'default/bench-model',
  inputKey: 'default/bench-model:input',
  outputKey: 'default/bench-model:output',
  input: bucketSpec(1e12, 'minute'),
  output: bucketSpec(1e12, 'minute'),
  ttlSeconds: 600,
};

function report(name: string, count: number, elapsedMs: number): void {
  console.log(`${name.padEnd(44)} ${((elapsedMs * 1000) / count).toFixed(2).padStart(9)} µs/request  (${count} requests)`);
}

const local = new LocalBackend();
for (let i = 0; i < 10_000; i++) local.check(spec, 100);
let start = performance.now();
for (let i = 0; i < iterations; i++) {
  if (local.check(spec, 100).refused !== null) throw new Error('refused');
  local.charge(spec, 50);
}
report('local: check + output charge', iterations, performance.now() - start);

const redis = await startRedis();
const backend = new RedisBackend(redis.address, (err) => console.error(err.message));
try {
  if (!(await backend.ready(5000))) throw new Error('redis not ready');
  const redisIterations = Math.max(1000, Math.floor(iterations / 10));
  for (let i = 0; i < 2000; i++) await backend.check(spec, 100);
  start = performance.now();
  for (let i = 0; i < redisIterations; i++) {
    if ((await backend.check(spec, 100)).refused !== null) throw new Error('refused');
  }
  report('redis: check, sequential (latency)', redisIterations, performance.now() - start);
  start = performance.now();
  for (let i = 0; i < redisIterations; i++) await backend.charge(spec, 50);
  report('redis: output charge, sequential', redisIterations, performance.now() - start);
  const inFlight = 64;
  start = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next++ < redisIterations) await backend.check(spec, 100);
  }));
  report(`redis: check, ${inFlight} in flight (throughput)`, redisIterations, performance.now() - start);
} finally {
  await backend.close();
  await redis.kill();
}
