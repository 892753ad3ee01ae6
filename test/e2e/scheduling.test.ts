// Model-aware scheduling through the real router: scraped LoRA lists steer requests, session affinity sticks,
// and filters that remove every pod answer 503 with an OpenAI-style error.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { killAll, runCli } from '../support/process.ts';
import { createEnv, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';

const BASE = 'org/base-model';

function loraRoute(name: string, adapters: readonly string[], serverName: string): string {
  return [
    'apiVersion: networking.serving.volcano.sh/v1alpha1',
    'kind: ModelRoute',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    'spec:',
    '  loraAdapters:',
    ...adapters.map((a) => `  - "${a}"`),
    '  rules:',
    '  - name: lora',
    '    targetModels:',
    `    - modelServerName: "${serverName}"`,
  ].join('\n');
}

const configDirs: string[] = [];
after(() => Promise.all(configDirs.map((dir) => rm(dir, { recursive: true, force: true }))));

/** Starts the router on env.dir with an optional Kthena router configuration file (kept outside env.dir). */
async function startRouterWith(env: TestEnv, routerConfig?: string): Promise<RouterApp> {
  let routerConfigFile: string | undefined;
  if (routerConfig !== undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-router-config-'));
    configDirs.push(dir);
    routerConfigFile = join(dir, 'router.yaml');
    await writeFile(routerConfigFile, routerConfig);
  }
  return startRouter(env, { metricsScrapeIntervalMs: 200, routerConfigFile });
}

async function received(mock: MockEngineHandle): Promise<number> {
  return (await mockStats(mock)).received;
}

describe('model-aware scheduling', () => {
  describe('LoRA affinity from scraped /v1/models', () => {
    let env: TestEnv;
    let withAdapter: MockEngineHandle;
    let without: MockEngineHandle;
    let router: RouterApp;

    before(async () => {
      env = await createEnv();
      withAdapter = await startMock(env, { model: BASE, instanceName: 'with-lora' });
      without = await startMock(env, { model: BASE, instanceName: 'without-lora' });
      const loaded = await post(`${withAdapter.url}/v1/load_lora_adapter`, { lora_name: 'lora-A', lora_path: '/adapters/a' });
      assert.equal(loaded.status, 200);
      await writeYaml(env, 'config.yaml', [
        modelServer('base', { app: 'base', model: BASE }),
        simpleRoute('base-route', BASE, 'base'),
        loraRoute('lora-route', ['lora-A'], 'base'),
        podStub('pod-with', 'base', withAdapter.port),
        podStub('pod-without', 'base', without.port),
      ]);
      router = await startRouterWith(env);
      await waitFor(
        () => router.engines.models(withAdapter.url, Date.now())?.has('lora-A') === true && router.engines.models(without.url, Date.now()) !== null,
        5000,
        'both pods scraped',
      );
    });
    after(() => env.cleanup());

    it('sends all 20 LoRA requests to the pod that has the adapter loaded', async () => {
      const before = [await received(withAdapter), await received(without)];
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => post(`${router.url}/v1/completions`, { model: 'lora-A', prompt: `request ${i}`, max_tokens: 3 })),
      );
      assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
      assert.equal((await received(withAdapter)) - before[0], 20);
      assert.equal((await received(without)) - before[1], 0);
    });

    it('still spreads base-model requests over both pods', async () => {
      const before = [await received(withAdapter), await received(without)];
      await Promise.all(Array.from({ length: 20 }, (_, i) => post(`${router.url}/v1/completions`, { model: BASE, prompt: `base ${i}`, max_tokens: 3 })));
      const deltas = [(await received(withAdapter)) - before[0], (await received(without)) - before[1]];
      assert.equal(deltas[0] + deltas[1], 20);
      assert.ok(deltas[0] > 0 && deltas[1] > 0, `both pods serve (got ${deltas.join('/')})`);
    });
  });

  describe('session affinity, enabled with --router-config', () => {
    let env: TestEnv;
    let mocks: MockEngineHandle[];
    let router: RouterApp;

    before(async () => {
      env = await createEnv();
      mocks = [
        await startMock(env, { model: BASE, instanceName: 's0' }),
        await startMock(env, { model: BASE, instanceName: 's1' }),
        await startMock(env, { model: BASE, instanceName: 's2' }),
      ];
      await writeYaml(env, 'config.yaml', [
        modelServer('base', { app: 'base', model: BASE }),
        simpleRoute('base-route', BASE, 'base'),
        ...mocks.map((m, i) => podStub(`pod-${i}`, 'base', m.port)),
      ]);
      router = await startRouterWith(
        env,
        [
          'scheduler:',
          '  pluginConfig:',
          '    - name: session-affinity',
          '      args: {headerName: X-Session-ID}',
          '  plugins:',
          '    Score:',
          '      enabled:',
          '        - {name: least-request, weight: 1}',
          '        - {name: prefix-cache, weight: 1}',
          '        - {name: session-affinity, weight: 10}',
        ].join('\n'),
      );
    });
    after(() => env.cleanup());

    const servedBy = async (session: string, i: number): Promise<string> => {
      const res = await post(`${router.url}/v1/completions`, { model: BASE, prompt: `${session} question number ${i}`, max_tokens: 2 }, { 'x-session-id': session });
      assert.equal(res.status, 200);
      return String(res.headers['x-mock-instance']);
    };

    it('sends the 20 requests of one session to one pod', async () => {
      for (const session of ['alice', 'bob', 'carol']) {
        const pods = new Set<string>();
        for (let i = 0; i < 20; i++) pods.add(await servedBy(session, i));
        assert.equal(pods.size, 1, `session ${session} went to ${[...pods].join(', ')}`);
      }
    });

    it('spreads requests without a session header', async () => {
      const pods = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const res = await post(`${router.url}/v1/completions`, { model: BASE, prompt: `anonymous ${i}`, max_tokens: 2 });
        pods.add(String(res.headers['x-mock-instance']));
      }
      assert.ok(pods.size > 1, 'requests without a session are not pinned');
    });
  });

  describe('filters that remove every pod', () => {
    let env: TestEnv;
    let engines: Server[];
    let inferenceRequests = 0;
    let router: RouterApp;

    /** A stand-in engine whose metrics say 5 requests are waiting in its queue. */
    async function busyEngine(): Promise<Server> {
      const server = createServer((req, res) => {
        if (req.url === '/metrics') {
          res.setHeader('content-type', 'text/plain; version=0.0.4');
          res.end('# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name="m"} 5\nvllm:num_requests_running{model_name="m"} 8\n');
        } else if (req.url === '/v1/models') {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ object: 'list', data: [{ id: BASE, object: 'model' }] }));
        } else {
          inferenceRequests++;
          res.statusCode = 500;
          res.end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }

    before(async () => {
      env = await createEnv();
      engines = [await busyEngine(), await busyEngine()];
      await writeYaml(env, 'config.yaml', [
        modelServer('busy', { app: 'busy', model: BASE }),
        simpleRoute('busy-route', BASE, 'busy'),
        ...engines.map((s, i) => podStub(`busy-${i}`, 'busy', (s.address() as AddressInfo).port)),
      ]);
      router = await startRouterWith(
        env,
        [
          'scheduler:',
          '  pluginConfig:',
          '    - name: least-request',
          '      args:',
          '        maxWaitingRequests: 3',
          '  plugins:',
          '    Filter:',
          '      enabled: [least-request]',
        ].join('\n'),
      );
      const origins = engines.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`);
      await waitFor(() => origins.every((o) => router.engines.metrics(o, Date.now())?.waiting === 5), 5000, 'metrics scraped');
    });
    after(async () => {
      await env.cleanup();
      for (const server of engines) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('answers 503 pods_overloaded with an OpenAI error body and contacts no pod', async () => {
      const res = await post(`${router.url}/v1/chat/completions`, { model: BASE, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(res.status, 503);
      const body = res.json() as { error: { message: string; type: string; code: string } };
      assert.equal(body.error.type, 'server_error');
      assert.equal(body.error.code, 'pods_overloaded');
      assert.match(body.error.message, /default\/busy/);
      assert.equal(inferenceRequests, 0);
    });
  });
});

describe('switchyard serve --router-config', () => {
  let env: TestEnv;
  before(async () => {
    env = await createEnv();
    await writeYaml(env, 'config.yaml', [modelServer('base', { app: 'base', model: BASE }), simpleRoute('base-route', BASE, 'base')]);
  });
  after(async () => {
    await killAll();
    await env.cleanup();
  });

  it('refuses to start on an invalid router configuration file, naming the file and field (exit 1)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-router-config-'));
    configDirs.push(dir);
    const file = join(dir, 'router.yaml');
    await writeFile(file, 'scheduler:\n  pluginConfig:\n    - name: least-latency\n      args: {TTFTTPOTWeightFactor: 2}\n');
    const run = await runCli(['serve', '--config', env.dir, '--router-config', file, '--port', '0', '--host', '127.0.0.1']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.ok(run.stderr.includes(`${file}: field scheduler.pluginConfig[0].args.TTFTTPOTWeightFactor: must be in [0, 1]`), run.stderr);
    assert.doesNotMatch(run.stdout, /switchyard listening/);
  });
});
