// A cluster holding objects as Kthena's users and controllers leave them, on deploy/'s CRDs: every field of Kthena's
// API set (those Switchyard does not act on included), the labels, owner references of Kthena's ModelBooster
// controller, a user's finalizer, and ExternalModelProvider status written through the status subresource as
// Kthena's router writes it. kubectl applies them with strict field validation; the API server stores them with
// Kthena's defaults and nothing pruned; Switchyard serves them (the official openai client) without writing to any,
// and names the fields it does not act on in one log line per object.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import pino from 'pino';
import { startRouterApp, type RouterApp } from '../../src/cli/router-app.ts';
import { startMockEngine, type MockEngineHandle } from '../../src/mock-engine/index.ts';
import { startFakeProvider, type FakeProvider } from '../support/fake-providers.ts';
import { waitFor } from '../support/harness.ts';
import { KubeCluster, envtestBinaries } from '../support/kube-cluster.ts';
import { createPod, setPodStatus } from '../support/kube-fixtures.ts';
import { parseFacts } from '../support/crd-facts.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { createTestCa } from '../support/tls.ts';

const binaries = envtestBinaries();
const API_VERSION = 'networking.serving.volcano.sh/v1alpha1';
const ENGINE_MODEL = 'Qwen/Qwen2.5-0.5B-Instruct';
const BOOSTER_UID = '3f1c2a9e-5b7d-4c1e-9a2f-0d8e6b4c1a01';
const NOT_ACTED_ON = 'fields Switchyard does not act on, left as they are';

type Json = Record<string, unknown>;

const KTHENA_FIELDS = parseFacts(readFileSync(new URL('../kube/kthena-crd-facts.jsonl', import.meta.url), 'utf8'));

/** Field paths set in an object, in the facts table's notation ("[]" items, "{}" map values where Kthena has a map). */
function fieldPaths(kind: string, value: unknown, path: string, out: Set<string>): Set<string> {
  out.add(`${kind} ${path}`);
  if (Array.isArray(value)) for (const item of value) fieldPaths(kind, item, `${path}[]`, out);
  else if (value !== null && typeof value === 'object') {
    const isMap = KTHENA_FIELDS.some((row) => row.kind === kind && row.path === `${path}{}`);
    for (const [key, item] of Object.entries(value)) fieldPaths(kind, item, isMap ? `${path}{}` : path === '' ? key : `${path}.${key}`, out);
  }
  return out;
}

/** What Kthena's ModelBooster controller puts on the ModelServers and ModelRoutes it creates. */
function boosterMetadata(name: string, backend: string): Json {
  return {
    name,
    namespace: 'default',
    labels: {
      'workload.serving.volcano.sh/model-name': 'qwen',
      'workload.serving.volcano.sh/backend-name': backend,
      'workload.serving.volcano.sh/managed-by': 'workload.serving.volcano.sh',
      'workload.serving.volcano.sh/revision': '7d9c8f6b5',
      'workload.serving.volcano.sh/model-uid': BOOSTER_UID,
    },
    ownerReferences: [{ apiVersion: 'workload.serving.volcano.sh/v1alpha1', kind: 'ModelBooster', name: 'qwen', uid: BOOSTER_UID, controller: true, blockOwnerDeletion: true }],
  };
}

function objects(providerURL: string, redisAddress: string): Json[] {
  return [
    {
      apiVersion: API_VERSION, kind: 'ModelServer', metadata: boosterMetadata('qwen-backend1', 'backend1'),
      spec: {
        model: ENGINE_MODEL,
        inferenceEngine: 'vLLM',
        workloadSelector: { matchLabels: { 'workload.serving.volcano.sh/model-uid': BOOSTER_UID } },
        workloadPort: { port: 8000 },
        trafficPolicy: { timeout: '30s', retry: { attempts: 5, retryInterval: '0s' } },
        kvConnector: {},
      },
    },
    {
      apiVersion: API_VERSION, kind: 'ModelServer', metadata: { name: 'qwen-canary', namespace: 'default' },
      spec: { model: ENGINE_MODEL, inferenceEngine: 'SGLang', workloadSelector: { matchLabels: { app: 'qwen-canary' } }, workloadPort: { port: 30000, protocol: 'http' } },
    },
    {
      // Prefill/decode as Kthena's ModelBooster controller writes it for a vLLM NIXL backend (no pods here).
      apiVersion: API_VERSION, kind: 'ModelServer', metadata: boosterMetadata('qwen-pd', 'pd'),
      spec: {
        model: ENGINE_MODEL, inferenceEngine: 'vLLM', workloadPort: { port: 8000 },
        workloadSelector: {
          matchLabels: { 'workload.serving.volcano.sh/model-uid': 'pd-uid' },
          pdGroup: { groupKey: 'modelserving.volcano.sh/group-name', prefillLabels: { 'modelserving.volcano.sh/role': 'prefill' }, decodeLabels: { 'modelserving.volcano.sh/role': 'decode' } },
        },
        kvConnector: { type: 'nixl' },
      },
    },
    {
      apiVersion: API_VERSION, kind: 'ModelRoute', metadata: boosterMetadata('qwen', ''),
      spec: { modelName: 'qwen', rules: [{ name: 'default', targetModels: [{ modelServerName: 'qwen-backend1' }] }] },
    },
    {
      apiVersion: API_VERSION, kind: 'ModelRoute',
      metadata: { name: 'qwen-chat', namespace: 'default', labels: { team: 'search' }, annotations: { 'example.com/owner': 'search-team' }, finalizers: ['example.com/audit'] },
      spec: {
        modelName: 'qwen-chat',
        loraAdapters: ['qwen-lora-a'],
        rules: [
          {
            name: 'gold-tier',
            modelMatch: { headers: { 'x-tier': { exact: 'gold' }, 'x-team': { regex: '^team-[a-z]+$' }, 'x-region': { prefix: 'eu-' } }, uri: { prefix: '/v1/chat' }, body: { model: 'qwen-chat' } },
            targetModels: [{ modelServerName: 'qwen-canary', weight: 100 }],
          },
          { name: 'split', targetModels: [{ modelServerName: 'qwen-backend1', weight: 70 }, { modelServerName: 'qwen-canary', weight: 30 }] },
        ],
        rateLimit: { inputTokensPerUnit: 1_000_000, outputTokensPerUnit: 1_000_000, unit: 'minute', global: { redis: { address: redisAddress } } },
      },
    },
    {
      apiVersion: API_VERSION, kind: 'ModelRoute', metadata: { name: 'qwen-gateway', namespace: 'default' },
      spec: {
        modelName: 'qwen-gateway',
        parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'kthena-gateway', namespace: 'default', sectionName: 'http', port: 80 }],
        rules: [
          { name: 'exact-uri', modelMatch: { uri: { exact: '/v1/chat/completions' } }, targetModels: [{ modelServerName: 'qwen-backend1' }] },
          { name: 'regex-uri', modelMatch: { uri: { regex: '^/v1/(chat/)?completions$' } }, targetModels: [{ modelServerName: 'qwen-backend1' }] },
        ],
      },
    },
    {
      apiVersion: 'v1', kind: 'Secret',
      metadata: { name: 'deepseek-key', namespace: 'default', labels: { 'networking.serving.volcano.sh/external-model-provider-credential': 'true' } },
      data: { 'api-key': Buffer.from('sk-kthena').toString('base64') },
    },
    {
      apiVersion: API_VERSION, kind: 'ExternalModelProvider', metadata: { name: 'deepseek', namespace: 'default' },
      spec: {
        providerType: 'OpenAI', model: 'deepseek-chat', baseURL: providerURL, insecureSkipVerify: true,
        auth: { scheme: 'Bearer', secretRef: { name: 'deepseek-key', key: 'api-key', optional: false } }, headers: { 'X-Org': 'kthena' },
      },
    },
    {
      apiVersion: API_VERSION, kind: 'ModelRoute', metadata: { name: 'deepseek', namespace: 'default' },
      spec: { modelName: 'deepseek', rules: [{ targetModels: [{ externalModelProviderName: 'deepseek' }] }] },
    },
  ];
}

/** The status Kthena's router writes on a provider whose credential resolves (externalmodelprovider_controller.go). */
function kthenaProviderStatus(generation: number, at: string, message = 'External provider configuration is ready'): Json {
  const condition = (type: string, reason: string, text: string) => ({ type, status: 'True', reason, message: text, observedGeneration: generation, lastTransitionTime: at });
  return {
    observedGeneration: generation,
    conditions: [condition('CredentialsResolved', 'CredentialResolved', 'Credential Secret and key are available'), condition('Ready', 'Ready', message)],
  };
}

/** Whether every field of `part` is in `whole` with the same value (arrays element by element). */
function contains(whole: unknown, part: unknown): boolean {
  if (Array.isArray(part)) return Array.isArray(whole) && whole.length === part.length && part.every((item, i) => contains(whole[i], item));
  if (part !== null && typeof part === 'object') {
    return whole !== null && typeof whole === 'object' && Object.entries(part).every(([key, value]) => contains((whole as Json)[key], value));
  }
  return Object.is(whole, part);
}

describe("Kthena's objects on deploy/'s CRDs are served unchanged", { skip: 'skip' in binaries ? binaries.skip : false }, () => {
  let cluster: KubeCluster;
  let router: RouterApp | null = null;
  let fake: FakeProvider;
  let redis: RedisServer;
  let applied: Json[];
  const mocks: MockEngineHandle[] = [];
  const logLines: Json[] = [];

  const stored = (kind: string, name: string): Json => JSON.parse(cluster.kubectl(['get', kind, name, '-n', 'default', '-o', 'json'])) as Json;
  const versions = (): Record<string, string> => {
    const list = JSON.parse(cluster.kubectl(['get', 'modelroutes,modelservers,externalmodelproviders', '-n', 'default', '-o', 'json'])) as { items: { kind: string; metadata: { name: string; resourceVersion: string } }[] };
    return Object.fromEntries(list.items.map((item) => [`${item.kind}/${item.metadata.name}`, item.metadata.resourceVersion]));
  };
  const notActedOn = (object: string): Json[] => logLines.filter((line) => line.msg === NOT_ACTED_ON && line.object === object);

  before(async () => {
    cluster = await KubeCluster.start((binaries as { dir: string }).dir);
    cluster.kubectl(['apply', '-f', 'deploy/crds/', '-f', 'deploy/namespace.yaml', '-f', 'deploy/rbac.yaml']);
    cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    fake = await startFakeProvider('OpenAI', createTestCa().issue());
    redis = await startRedis();
    applied = objects(`${fake.url}/v1`, redis.address);
    for (const [name, labels] of [['qwen-0', { 'workload.serving.volcano.sh/model-uid': BOOSTER_UID }], ['qwen-canary-0', { app: 'qwen-canary' }]] as const) {
      const mock = await startMockEngine({ port: 0, host: '127.0.0.1', model: ENGINE_MODEL, instanceName: name, loraAdapters: ['qwen-lora-a'] });
      mocks.push(mock);
      createPod(cluster, name, labels, mock.port);
      setPodStatus(cluster, name, true);
    }
  });

  after(async () => {
    await router?.shutdown(1000);
    await Promise.allSettled(mocks.map((m) => m.close()));
    await fake?.close();
    await redis?.kill();
    await cluster?.stop();
  });

  it("the objects set every spec and status field of Kthena's CRDs", () => {
    const set = new Set<string>();
    for (const object of applied) if (object.kind !== 'Secret') fieldPaths(object.kind as string, { spec: object.spec }, '', set);
    fieldPaths('ExternalModelProvider', { status: kthenaProviderStatus(1, 'x') }, '', set);
    const missing = KTHENA_FIELDS.filter((row) => /^(spec|status)\./.test(row.path) && !set.has(`${row.kind} ${row.path}`)).map((row) => `${row.kind} ${row.path}`);
    assert.deepEqual(missing, []);
  });

  it('kubectl applies every object with strict field validation; the API server stores each whole, with Kthena\'s defaults', () => {
    cluster.kubectl(['apply', '--validate=strict', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: applied }));
    // Kthena's router writes the provider's status through the status subresource.
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    cluster.kubectl(['patch', 'externalmodelprovider', 'deepseek', '-n', 'default', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: kthenaProviderStatus(1, at) })]);

    for (const object of applied) {
      const kind = object.kind as string;
      const name = (object.metadata as Json).name as string;
      const live = stored(kind, name);
      assert.ok(contains(live.metadata, object.metadata), `${kind} ${name}: metadata stored whole`);
      if (kind !== 'Secret') assert.ok(contains(live.spec, object.spec), `${kind} ${name}: spec stored whole: ${JSON.stringify(live.spec)}`);
    }
    // The defaults Kthena's CRDs apply, and only those.
    const server = stored('modelserver', 'qwen-backend1').spec as Json;
    assert.deepEqual(server.workloadPort, { port: 8000, protocol: 'http' });
    assert.deepEqual(server.kvConnector, { type: 'http' });
    assert.deepEqual(server.trafficPolicy, { timeout: '30s', retry: { attempts: 5, retryInterval: '0s' } });
    assert.deepEqual((stored('modelroute', 'qwen').spec as { rules: Json[] }).rules, [{ name: 'default', targetModels: [{ modelServerName: 'qwen-backend1', weight: 100 }] }]);
    const provider = stored('externalmodelprovider', 'deepseek');
    assert.deepEqual(provider.status, kthenaProviderStatus(1, at));
  });

  it('serves them with the official openai client: model, header-matched rule, LoRA, weighted split, external provider', async () => {
    const log = { write: (line: string) => void logLines.push(JSON.parse(line) as Json) };
    router = await startRouterApp({
      configPaths: [],
      kubernetes: { kubeconfig: cluster.routerKubeconfig, namespaces: ['default'] },
      port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0, metricsPort: null, debugPort: null, accessLog: null, logger: pino({ level: 'info' }, log),
    });
    const live = router;
    await waitFor(() => live.store.snapshot?.stats.pods === 2, 5000, 'both pods');
    const openai = new OpenAI({ baseURL: `${live.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    const instance = async (model: string, headers: Record<string, string> = {}): Promise<string | null> => {
      const { response } = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }, { headers }).withResponse();
      return response.headers.get('x-mock-instance');
    };

    assert.equal(await instance('qwen'), 'qwen-0', 'the ModelBooster route');
    // Five in a row: the 70/30 split (smooth weighted round-robin) never sends that many to one server.
    const gold = { 'x-tier': 'gold', 'x-team': 'team-search', 'x-region': 'eu-west' };
    for (let i = 0; i < 5; i++) assert.equal(await instance('qwen-chat', gold), 'qwen-canary-0', 'headers, uri and body matched');
    const split = new Set<string | null>();
    for (let i = 0; i < 10; i++) split.add(await instance('qwen-chat'));
    assert.deepEqual([...split].sort(), ['qwen-0', 'qwen-canary-0'], 'the 70/30 rule reaches both servers');
    assert.ok(['qwen-0', 'qwen-canary-0'].includes(String(await instance('qwen-lora-a'))), 'the LoRA adapter');
    const buckets = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    try {
      assert.ok((await buckets.dbsize()) > 0, "qwen-chat's global rate limit keeps its buckets in the route's Redis");
    } finally {
      buckets.disconnect();
    }
    assert.ok(live.store.snapshot!.servers.get('default/qwen-pd')?.pdGroup !== undefined, 'the PD ModelServer loaded');

    const completion = await openai.chat.completions.create({ model: 'deepseek', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0].message.content, 'Hello from the provider');
    const reached = fake.requests.at(-1)!;
    assert.equal(reached.headers.authorization, 'Bearer sk-kthena');
    assert.equal(reached.headers['x-org'], 'kthena');
    assert.equal(reached.body.model, 'deepseek-chat');

    // Bound to a Gateway: as Kthena with the Gateway API disabled, never matched.
    await assert.rejects(instance('qwen-gateway'), (error: unknown) => error instanceof OpenAI.NotFoundError);
  });

  it('writes nothing to the objects it serves', async () => {
    const before = versions();
    for (let i = 0; i < 3; i++) await new OpenAI({ baseURL: `${router!.url}/v1`, apiKey: 'k', maxRetries: 0 }).chat.completions.create({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(versions(), before);
    assert.equal(Object.keys(before).length, 8);
  });

  it('names the fields it does not act on once per object, and not again when Kthena updates the status', async () => {
    assert.deepEqual(notActedOn('ModelServer default/qwen-backend1').map((line) => line.fields), [['metadata.ownerReferences']]);
    assert.deepEqual(notActedOn('ModelServer default/qwen-pd').map((line) => line.fields), [['metadata.ownerReferences']]);
    assert.deepEqual(notActedOn('ModelRoute default/qwen').map((line) => line.fields), [['metadata.ownerReferences']]);
    assert.deepEqual(notActedOn('ModelRoute default/qwen-chat').map((line) => line.fields), [['metadata.finalizers']]);
    // An ExternalModelProvider's conditions and observedGeneration are written by Switchyard itself (as by Kthena's router).
    assert.deepEqual(notActedOn('ExternalModelProvider default/deepseek'), []);
    assert.deepEqual(notActedOn('ModelServer default/qwen-canary'), [], 'an object without such fields gets no line');

    // Kthena's router rewrites the conditions: the object changes, and still no line.
    const generation = router!.store.snapshot!.generation;
    const at = new Date(Date.now() + 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    cluster.kubectl(['patch', 'externalmodelprovider', 'deepseek', '-n', 'default', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: kthenaProviderStatus(1, at, 'ready again') })]);
    await waitFor(() => router!.store.snapshot!.generation > generation, 5000, 'the status update seen');
    assert.equal(notActedOn('ExternalModelProvider default/deepseek').length, 0);
  });
});
