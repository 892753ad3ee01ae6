// kvcache-aware reading Kthena's Redis index, end to end: a real redis-server holds keys written exactly as Kthena's
// runtime sidecar writes them (kv_cache_manager.py: per full block a mapping key and an HSET of
// matrix:kv:block:{model}@{hash} → "{pod}.{namespace}" → unix time), and the real router, with Kthena's documented
// kvcache-aware configuration and only Kthena's REDIS_HOST/REDIS_PORT, sends requests (official openai client) to
// the pod the sidecar says holds the prompt. The mock engines' /tokenize gives the ids on both sides.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { RequestRecord } from '../../src/server/inference-handler.ts';
import { client, createEnv, get, mockStats, modelServer, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { BASE, writeRouterConfig } from '../support/scheduling.ts';

/** Kthena's documented kvcache-aware configuration (docs: KV Cache Aware Plugin, step 3), as published. */
const KTHENA_KVCACHE_CONFIG = `scheduler:
  pluginConfig:
  - name: least-request
    args:
      maxWaitingRequests: 10
  - name: kvcache-aware
    args:
      blockSizeToHash: 16
      maxBlocksToMatch: 128
  plugins:
    Filter:
      enabled:
        - least-request
    Score:
      enabled:
        - name: least-request
          weight: 1
        - name: kvcache-aware
          weight: 1
`;

const LORA = 'lora-a';
const VIRTUAL = 'virtual-name';
/** The pods' containers started then (unix seconds); the sidecar's writes must come later to count. */
const POD_START = Date.parse('2026-01-01T00:00:00Z') / 1000;
const words = (seed: string, count: number): string => Array.from({ length: count }, (_, i) => `${seed}${i}`).join(' ');

function pod(name: string, mock: MockEngineHandle): string {
  return [
    'apiVersion: v1', 'kind: Pod', 'metadata:', `  name: ${name}`, '  namespace: default', '  labels: {app: base}',
    `  annotations: {switchyard.dev/port: "${mock.port}"}`,
    'status:', '  podIP: 127.0.0.1', '  phase: Running',
    '  containerStatuses:', '  - name: engine', `    state: {running: {startedAt: "${new Date(POD_START * 1000).toISOString()}"}}`,
  ].join('\n');
}

const loraRoute = [
  'apiVersion: networking.serving.volcano.sh/v1alpha1', 'kind: ModelRoute', 'metadata:', '  name: lora-route', '  namespace: default',
  'spec:', `  loraAdapters: [${LORA}]`, '  rules:', '  - name: adapters', '    targetModels:', '    - modelServerName: base',
].join('\n');

/** The sidecar's compute_standardized_hash, written again here from its Python source. */
function standardizedHash(ids: readonly number[]): string {
  const sha = createHash('sha256');
  for (const id of ids) {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(id);
    sha.update(bytes);
  }
  return (sha.digest().readBigUInt64BE(0) & 0x7fffffffffffffffn).toString();
}

interface Explained {
  scheduling: { candidates: { pod: string; scores: Record<string, { score: number | null; weight: number; detail?: Record<string, number> }> }[] };
}

describe("kvcache-aware routing from Kthena's Redis index (its runtime sidecar's layout)", () => {
  let env: TestEnv;
  let redis: RedisServer;
  let writer: Redis;
  let mocks: MockEngineHandle[];
  let router: RouterApp;
  let routerConfig: string;
  const records: RequestRecord[] = [];

  /** What the sidecar does for one BlockStored event of `tokenIds` (blocks of 16) on `owner`, at `writtenAt`. */
  async function sidecarStores(model: string, owner: string, tokenIds: readonly number[], writtenAt: number, blocks?: readonly number[]): Promise<void> {
    const pipe = writer.pipeline();
    const count = Math.floor(tokenIds.length / 16);
    for (let i = 0; i < count; i++) {
      if (blocks !== undefined && !blocks.includes(i)) continue;
      const engineHash = 9_000_000 + i;
      const std = standardizedHash(tokenIds.slice(i * 16, (i + 1) * 16));
      pipe.set(`vllm:kv:block:${owner}@${engineHash}`, std);
      pipe.expire(`vllm:kv:block:${owner}@${engineHash}`, 86400);
      pipe.hset(`matrix:kv:block:${model}@${std}`, owner, String(writtenAt));
    }
    await pipe.exec();
  }
  const now = (): number => Math.floor(Date.now() / 1000);

  async function tokenize(body: Record<string, unknown>): Promise<number[]> {
    const res = await post(`${mocks[0].url}/tokenize`, body);
    assert.equal(res.status, 200, res.text);
    return (res.json() as { tokens: number[] }).tokens;
  }
  const completionIds = (model: string, prompt: string) => tokenize({ model, prompt, add_special_tokens: true });

  async function matched(body: Record<string, unknown>, path = '/v1/completions'): Promise<Map<string, Record<string, number> | undefined>> {
    const res = await post(`${router.debugUrl}/debug/explain`, { path, body });
    assert.equal(res.status, 200, res.text);
    return new Map((res.json() as Explained).scheduling.candidates.map((c) => [c.pod, c.scores['kvcache-aware']?.detail]));
  }
  const blocksOf = async (body: Record<string, unknown>, path?: string): Promise<Record<string, number | undefined>> =>
    Object.fromEntries([...(await matched(body, path))].map(([name, detail]) => [name.replace('default/', ''), detail?.matchedBlocks]));

  const metric = async (pattern: RegExp): Promise<number> => Number(pattern.exec((await get(`${router.metricsUrl}/metrics`)).text)?.[1] ?? 0);

  before(async () => {
    env = await createEnv();
    redis = await startRedis();
    writer = new Redis({ host: '127.0.0.1', port: redis.port });
    writer.on('error', () => undefined); // after Redis is killed
    mocks = [];
    for (let i = 0; i < 3; i++) mocks.push(await startMock(env, { model: BASE, instanceName: `kr-${i}`, mode: 'random', maxTokens: 2, loraAdapters: [LORA] }));
    await writeYaml(env, 'config.yaml', [
      modelServer('base', { app: 'base' }), simpleRoute('base-route', BASE, 'base'), loraRoute,
      // The same pods behind a name the ModelServer rewrites (spec.model) to the one the engines serve.
      modelServer('renamed', { app: 'base', model: BASE }), simpleRoute('virtual-route', VIRTUAL, 'renamed'),
      ...mocks.map((m, i) => pod(`pod-${i}`, m)),
    ]);
    routerConfig = await writeRouterConfig(env, KTHENA_KVCACHE_CONFIG);
    router = await startRouter(env, {
      routerConfigFile: routerConfig, debugPort: 0, metricsPort: 0,
      env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) },
      onRequestDone: (record) => records.push(record),
    });
  });
  after(async () => {
    writer.disconnect();
    redis.resume();
    await env.cleanup();
    await redis.kill();
  });

  it('sends each completion to the pod whose sidecar stored its prompt', async () => {
    const openai = client(router);
    for (let n = 0; n < 3; n++) {
      const prompt = words(`topic${n}w`, 96);
      const ids = await completionIds(BASE, prompt);
      const full = Math.floor(ids.length / 16);
      assert.ok(full >= 5, `${ids.length} tokens`);
      await sidecarStores(BASE, `pod-${n}.default`, ids, now());
      const expected = Object.fromEntries([0, 1, 2].map((i) => [`pod-${i}`, i === n ? full : 0]));
      assert.deepEqual(await blocksOf({ model: BASE, prompt }), expected);
      for (let turn = 0; turn < 3; turn++) {
        const { response } = await openai.completions.create({ model: BASE, prompt: `${prompt} ${words(`more${turn}x`, 10)}`, max_tokens: 2 }).withResponse();
        assert.equal(response.headers.get('x-mock-instance'), `kr-${n}`, `prompt ${n}, turn ${turn}`);
      }
    }
    assert.ok((await metric(/^switchyard_kvcache_aware_redis_duration_seconds_count\{model="org\/base-model"\} (\d+)$/m)) > 0, 'lookups timed');
  });

  it('does the same for chat, tokenized with the chat template', async () => {
    const openai = client(router);
    const messages = [{ role: 'system' as const, content: words('system', 60) }, { role: 'user' as const, content: words('question', 40) }];
    const ids = await tokenize({ model: BASE, messages, add_special_tokens: false, add_generation_prompt: true });
    await sidecarStores(BASE, 'pod-2.default', ids, now());
    assert.equal((await blocksOf({ model: BASE, messages }, '/v1/chat/completions'))['pod-2'], Math.floor(ids.length / 16));
    for (let turn = 0; turn < 3; turn++) {
      const { response } = await openai.chat.completions.create({ model: BASE, messages, max_tokens: 2 }).withResponse();
      assert.equal(response.headers.get('x-mock-instance'), 'kr-2', `turn ${turn}`);
    }
  });

  it('ignores ownership written before the pod\'s containers started', async () => {
    const prompt = words('stale', 80);
    const ids = await completionIds(BASE, prompt);
    await sidecarStores(BASE, 'pod-0.default', ids, POD_START - 60);
    await sidecarStores(BASE, 'pod-1.default', ids, POD_START);
    await sidecarStores(BASE, 'pod-2.default', ids, POD_START + 1);
    assert.deepEqual(await blocksOf({ model: BASE, prompt }), { 'pod-0': 0, 'pod-1': 0, 'pod-2': Math.floor(ids.length / 16) });
  });

  it('scores only pods that hold block 0, and only their unbroken run from it', async () => {
    const prompt = words('runs', 96);
    const ids = await completionIds(BASE, prompt);
    await sidecarStores(BASE, 'pod-0.default', ids, now(), [1, 2, 3, 4, 5]);
    await sidecarStores(BASE, 'pod-1.default', ids, now(), [0, 1, 3, 4, 5]);
    await sidecarStores(BASE, 'pod-2.default', ids, now(), [0]);
    assert.deepEqual(await blocksOf({ model: BASE, prompt }), { 'pod-0': 0, 'pod-1': 2, 'pod-2': 1 });
  });

  it("keeps a LoRA adapter's keys apart from the base model's, as Kthena names them", async () => {
    const prompt = words('adapter', 96);
    const ids = await completionIds(BASE, prompt);
    const full = Math.floor(ids.length / 16);
    await sidecarStores(BASE, 'pod-0.default', ids, now());
    await sidecarStores(LORA, 'pod-1.default', ids, now());
    assert.deepEqual(await blocksOf({ model: BASE, prompt }), { 'pod-0': full, 'pod-1': 0, 'pod-2': 0 });
    assert.deepEqual(await blocksOf({ model: LORA, prompt }), { 'pod-0': 0, 'pod-1': full, 'pod-2': 0 });
    const { response } = await client(router).completions.create({ model: LORA, prompt, max_tokens: 2 }).withResponse();
    assert.equal(response.headers.get('x-mock-instance'), 'kr-1');
  });

  it('reads a renamed model under both names: the request\'s (Kthena) and the served one', async () => {
    const prompt = words('renamed', 96);
    const ids = await completionIds(BASE, prompt);
    const full = Math.floor(ids.length / 16);
    await sidecarStores(VIRTUAL, 'pod-0.default', ids, now());
    await sidecarStores(BASE, 'pod-1.default', ids, now());
    assert.deepEqual(await blocksOf({ model: VIRTUAL, prompt }), { 'pod-0': full, 'pod-1': full, 'pod-2': 0 });
    assert.deepEqual(await blocksOf({ model: BASE, prompt }), { 'pod-0': 0, 'pod-1': full, 'pod-2': 0 });
  });

  it('serves requests without an opinion while Redis hangs (the lookup times out)', async () => {
    const errors = () => metric(/^switchyard_kvcache_aware_errors_total\{model="org\/base-model",stage="redis"\} (\d+)$/m);
    const before = await errors();
    redis.pause();
    try {
      const answer = await client(router).completions.create({ model: BASE, prompt: words('hung', 64), max_tokens: 2 });
      assert.equal(answer.choices.length, 1);
      const detail = await matched({ model: BASE, prompt: words('hung', 64) });
      assert.deepEqual([...detail.values()], [{ redisError: 1 }, { redisError: 1 }, { redisError: 1 }]);
    } finally {
      redis.resume();
    }
    assert.ok((await errors()) >= before + 2, 'lookups that timed out are counted');
  });

  it('drops a request whose client leaves while the lookup waits; no pod sees it', async () => {
    const patient = KTHENA_KVCACHE_CONFIG.replace('maxBlocksToMatch: 128', 'maxBlocksToMatch: 128\n      redisTimeoutMs: 60000');
    await writeRouterConfig(env, patient.replace(/(kvcache-aware\n\s+weight:) 1/, '$1 2'));
    const weight = async (): Promise<number | undefined> => {
      const res = await post(`${router.debugUrl}/debug/explain`, { path: '/v1/completions', body: { model: BASE, prompt: 'x' } });
      return (res.json() as Explained).scheduling.candidates[0]?.scores['kvcache-aware']?.weight;
    };
    await waitFor(async () => (await weight()) === 2, 5000, 'the reloaded router configuration');
    const dropped = () => records.filter((r) => r.status === 0 || r.status === 499).length;
    const droppedBefore = dropped();
    const received = async () => (await Promise.all(mocks.map(mockStats))).reduce((sum, s) => sum + s.received, 0);
    const sent = await received();
    redis.pause();
    try {
      const marker = words('leaving', 64);
      const req = httpRequest(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      req.on('error', () => undefined);
      req.end(JSON.stringify({ model: BASE, prompt: marker, max_tokens: 2 }));
      // Tokenized by then (an engine answers at once): the request waits on the hung Redis.
      await new Promise((resolve) => setTimeout(resolve, 500));
      req.destroy();
      await waitFor(() => dropped() > droppedBefore, 10_000, 'the request to be dropped while Redis still hangs');
    } finally {
      redis.resume();
    }
    assert.equal(await received(), sent, 'no engine received the abandoned request');
  });

  it('a router-config reload naming another Redis scores the first requests from it once its client connects', async () => {
    // The same Redis behind a proxy that holds each connection a moment before joining it: the new client is surely
    // still connecting when the first request after the reload looks up (on loopback, otherwise a race).
    const sockets: Socket[] = [];
    const proxy = createServer((socket) => {
      sockets.push(socket);
      setTimeout(() => {
        const upstream = connect(redis.port, '127.0.0.1');
        sockets.push(upstream);
        socket.pipe(upstream).pipe(socket);
      }, 300);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as { port: number }).port;
    try {
      const prompt = words('reloaded', 96);
      const ids = await completionIds(BASE, prompt);
      await sidecarStores(BASE, 'pod-1.default', ids, now());
      await writeFile(routerConfig, KTHENA_KVCACHE_CONFIG.replace('      maxBlocksToMatch: 128\n', `      maxBlocksToMatch: 128\n      redisAddress: "127.0.0.1:${proxyPort}"\n      redisTimeoutMs: 2000\n`));
      await waitFor(() => sockets.length > 0, 10_000, 'the reload to connect a client to the new address');
      assert.deepEqual(await blocksOf({ model: BASE, prompt }), { 'pod-0': 0, 'pod-1': Math.floor(ids.length / 16), 'pod-2': 0 });
    } finally {
      await writeFile(routerConfig, KTHENA_KVCACHE_CONFIG);
      for (const socket of sockets) socket.destroy();
      proxy.close();
    }
  });

  it('drops a connection that went silent (Redis\'s host died) and dials the address again', async () => {
    // A proxy to the Redis whose connections made so far go silent (nothing forwarded, nothing closed) on demand.
    let generation = 0;
    const sockets: Socket[] = [];
    const proxy = createServer((socket) => {
      const upstream = connect(redis.port, '127.0.0.1');
      sockets.push(socket, upstream);
      const born = generation;
      socket.on('data', (chunk: Buffer) => void (born === generation && upstream.write(chunk)));
      upstream.on('data', (chunk: Buffer) => void (born === generation && socket.write(chunk)));
      socket.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as { port: number }).port;
    try {
      const prompt = words('silent', 96);
      const ids = await completionIds(BASE, prompt);
      await sidecarStores(BASE, 'pod-2.default', ids, now());
      const scored = { 'pod-0': 0, 'pod-1': 0, 'pod-2': Math.floor(ids.length / 16) };
      await writeFile(routerConfig, KTHENA_KVCACHE_CONFIG.replace('      maxBlocksToMatch: 128\n', `      maxBlocksToMatch: 128\n      redisAddress: "127.0.0.1:${proxyPort}"\n`));
      await waitFor(async () => sockets.length > 0 && JSON.stringify(await blocksOf({ model: BASE, prompt })) === JSON.stringify(scored), 10_000, 'lookups through the proxy');
      generation++;
      assert.equal((await blocksOf({ model: BASE, prompt }))['pod-2'], undefined, 'the lookup times out');
      await waitFor(async () => JSON.stringify(await blocksOf({ model: BASE, prompt })) === JSON.stringify(scored), 15_000, 'lookups answered on a new connection');
    } finally {
      await writeFile(routerConfig, KTHENA_KVCACHE_CONFIG);
      for (const socket of sockets) socket.destroy();
      proxy.close();
    }
  });

  it('serves requests while Redis is down, counting the failed lookups', async () => {
    await redis.kill();
    const openai = client(router);
    const answer = await openai.completions.create({ model: BASE, prompt: words('down', 64), max_tokens: 2 });
    assert.equal(answer.choices.length, 1);
    const chat = await openai.chat.completions.create({ model: BASE, messages: [{ role: 'user', content: words('down', 40) }], max_tokens: 2 });
    assert.equal(chat.choices.length, 1);
    assert.ok((await metric(/^switchyard_kvcache_aware_errors_total\{model="org\/base-model",stage="redis"\} (\d+)$/m)) > 0);
  });
});
