// kvcache-aware end to end: mock engines publish the KV events of their simulated prefix caches over ZeroMQ, the
// router subscribes (Pod annotations), tokenizes prompts through the engines' /tokenize and sends each request to
// the pod holding the longest run of its blocks; /debug/explain shows the matched blocks; a restarted engine's
// index starts over.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { client, createEnv, get, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { BASE, writeRouterConfig } from '../support/scheduling.ts';

/** Kthena's documented kvcache-aware configuration (docs: KV cache aware routing), as published. */
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

const words = (seed: string, count: number): string => Array.from({ length: count }, (_, i) => `${seed}${i}`).join(' ');

function kvPod(name: string, mock: MockEngineHandle): string {
  return podStub(name, 'base', mock.port).replace(
    '    switchyard.dev/port:',
    `    switchyard.dev/kv-events-port: "${mock.kvEventsPort}"\n    switchyard.dev/kv-replay-port: "${mock.kvReplayPort}"\n    switchyard.dev/port:`,
  );
}

interface Explained {
  scheduling: { candidates: { pod: string; scores: Record<string, { score: number | null; detail?: Record<string, number> }> }[] };
}

describe('kvcache-aware routing from the engines\' KV events', () => {
  let env: TestEnv;
  let mocks: MockEngineHandle[];
  let router: RouterApp;

  const startEngine = (i: number, ports: Partial<MockEngineHandle> = {}) =>
    startMock(env, {
      model: BASE,
      instanceName: `kv-${i}`,
      mode: 'random',
      maxTokens: 2,
      port: ports.port ?? 0,
      kvEventsPort: ports.kvEventsPort ?? 0,
      kvReplayPort: ports.kvReplayPort ?? 0,
    });

  /** A restart keeps the pod's address; another test process may hold one of the freed ports for a moment. */
  const restartOnSamePorts = async (i: number, old: MockEngineHandle): Promise<MockEngineHandle> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startEngine(i, { port: old.port, kvEventsPort: old.kvEventsPort ?? 0, kvReplayPort: old.kvReplayPort ?? 0 });
      } catch (err) {
        const cause = ((err as Error).cause ?? err) as NodeJS.ErrnoException;
        if (attempt >= 50 || cause.code !== 'EADDRINUSE') throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  const explain = async (body: Record<string, unknown>): Promise<Explained> => {
    const res = await post(`${router.debugUrl}/debug/explain`, { path: '/v1/completions', body });
    assert.equal(res.status, 200, res.text);
    return res.json() as Explained;
  };
  const matched = async (body: Record<string, unknown>): Promise<Map<string, number | null>> => {
    const { scheduling } = await explain(body);
    return new Map(scheduling.candidates.map((c) => [c.pod, c.scores['kvcache-aware']?.detail?.matchedBlocks ?? null]));
  };
  const trustedEverywhere = () => waitFor(() => [...router.kvBlocks.entries()].filter(([, , trusted]) => trusted).length === 3, 5000, 'every pod trusted');

  before(async () => {
    env = await createEnv();
    mocks = [await startEngine(0), await startEngine(1), await startEngine(2)];
    await writeYaml(env, 'config.yaml', [modelServer('base', { app: 'base', model: BASE }), simpleRoute('base-route', BASE, 'base'), ...mocks.map((m, i) => kvPod(`pod-${i}`, m))]);
    const file = await writeRouterConfig(env, KTHENA_KVCACHE_CONFIG);
    router = await startRouter(env, { routerConfigFile: file, debugPort: 0, metricsPort: 0 });
    await trustedEverywhere();
  });
  after(() => env.cleanup());

  it('sends each completion to the pod that holds its prefix', async () => {
    for (let n = 0; n < 6; n++) {
      const prompt = words(`topic${n}w`, 96);
      const first = await post(`${router.url}/v1/completions`, { model: BASE, prompt, max_tokens: 2 });
      assert.equal(first.status, 200, first.text);
      const holder = first.headers['x-mock-instance'];
      const pod = `default/pod-${String(holder).slice(3)}`;
      await waitFor(async () => (await matched({ model: BASE, prompt })).get(pod) === 6, 5000, `pod ${pod} to hold the prompt`);
      const others = [...(await matched({ model: BASE, prompt })).entries()].filter(([name]) => name !== pod);
      assert.ok(others.every(([, blocks]) => blocks === 0), `only ${pod} holds it: ${JSON.stringify(others)}`);
      for (let turn = 0; turn < 3; turn++) {
        const next = await post(`${router.url}/v1/completions`, { model: BASE, prompt: `${prompt} ${words(`more${turn}x`, 10)}`, max_tokens: 2 });
        assert.equal(next.headers['x-mock-instance'], holder, `follow-up ${turn} of prompt ${n}`);
      }
    }
  });

  it('does the same for chat, tokenized by the engine with its chat template', async () => {
    const openai = client(router);
    const history = [{ role: 'system' as const, content: words('system', 60) }, { role: 'user' as const, content: words('question', 40) }];
    const { response } = await openai.chat.completions.create({ model: BASE, messages: history, max_tokens: 2 }).withResponse();
    const holder = response.headers.get('x-mock-instance');
    assert.ok(holder !== null);
    await waitFor(async () => {
      const res = await post(`${router.debugUrl}/debug/explain`, { path: '/v1/chat/completions', body: { model: BASE, messages: history } });
      const found = (res.json() as Explained).scheduling.candidates.find((c) => c.pod === `default/pod-${holder.slice(3)}`);
      return (found?.scores['kvcache-aware']?.detail?.matchedBlocks ?? 0) >= 6;
    }, 5000, 'the chat prefix to be indexed');
    for (let turn = 0; turn < 3; turn++) {
      const messages = [...history, { role: 'assistant' as const, content: 'ok' }, { role: 'user' as const, content: words(`turn${turn}q`, 20) }];
      const again = await openai.chat.completions.create({ model: BASE, messages, max_tokens: 2 }).withResponse();
      assert.equal(again.response.headers.get('x-mock-instance'), holder, `turn ${turn}`);
    }
  });

  it('matches a Messages request by its system prompt, which the engine renders first', async () => {
    // Before, the router tokenized the messages without `system`: the engine's blocks begin with it, so no pod matched.
    const body = { model: BASE, max_tokens: 2, system: words('anthropic-system', 80), messages: [{ role: 'user', content: words('ask', 10) }] };
    const first = await post(`${router.url}/v1/messages`, body);
    assert.equal(first.status, 200, first.text);
    const pod = `default/pod-${String(first.headers['x-mock-instance']).slice(3)}`;
    const matchedOn = async (): Promise<number> => {
      const res = await post(`${router.debugUrl}/debug/explain`, { path: '/v1/messages', body });
      const found = (res.json() as Explained).scheduling.candidates.find((c) => c.pod === pod);
      return found?.scores['kvcache-aware']?.detail?.matchedBlocks ?? 0;
    };
    await waitFor(async () => (await matchedOn()) >= 5, 5000, 'the system prompt matched on the pod that served it');
    for (let turn = 0; turn < 3; turn++) {
      const next = await post(`${router.url}/v1/messages`, { ...body, messages: [{ role: 'user', content: words(`other${turn}q`, 10) }] });
      assert.equal(`default/pod-${String(next.headers['x-mock-instance']).slice(3)}`, pod, `question ${turn} went where the system prompt is`);
    }
  });

  /** Sends `body` once, then waits until explain shows at least 4 of its blocks matched on the pod that served it. */
  const expectMatchWhereServed = async (path: string, body: object, what: string): Promise<void> => {
    const first = await post(`${router.url}${path}`, body);
    assert.equal(first.status, 200, first.text);
    const pod = `default/pod-${String(first.headers['x-mock-instance']).slice(3)}`;
    await waitFor(async () => {
      const res = await post(`${router.debugUrl}/debug/explain`, { path, body });
      const found = (res.json() as Explained).scheduling.candidates.find((c) => c.pod === pod);
      return (found?.scores['kvcache-aware']?.detail?.matchedBlocks ?? 0) >= 4;
    }, 5000, `${what} matched on the pod that served them`);
  };

  it('matches a chat with tools, which the engine renders into the prompt ahead of the messages', async () => {
    // Before, the router tokenized the messages alone: the engine's blocks begin with the tools, so no pod matched.
    const tools = [{ type: 'function', function: { name: 'lookup', description: words('tool-doc', 40), parameters: { type: 'object', properties: {} } } }];
    const body = { model: BASE, max_tokens: 2, tools, messages: [{ role: 'user', content: words('tool-question', 30) }] };
    await expectMatchWhereServed('/v1/chat/completions', body, 'the tools and question');
  });

  it('matches a Responses request by its instructions and input, the chat the engine renders from them', async () => {
    // Before, a Responses request had nothing the router tokenized: kvcache-aware had no opinion on it.
    const body = { model: BASE, max_output_tokens: 2, instructions: words('responses-instructions', 60), input: words('responses-input', 20) };
    await expectMatchWhereServed('/v1/responses', body, 'the instructions and input');
  });

  it('exports the match ratio, tokenization time, KV events and index sizes', async () => {
    const text = (await get(`${router.metricsUrl}/metrics`)).text;
    const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? NaN);
    assert.ok(value(/^switchyard_kvcache_aware_match_ratio_count\{model="org\/base-model"\} (\d+)$/m) > 0, 'match ratio observed');
    assert.ok(value(/^switchyard_kvcache_aware_tokenize_duration_seconds_count\{model="org\/base-model",result="ok"\} (\d+)$/m) > 0, 'tokenization timed');
    // Every pod's index is reported; the pods that served requests (at least one) sent events and hold blocks.
    let received = 0;
    let blocks = 0;
    for (const mock of mocks) {
      const origin = mock.url.replace(/[/.]/g, (c) => `\\${c}`);
      received += value(new RegExp(`^switchyard_kv_events_received_total\\{pod="${origin}"\\} (\\d+)$`, 'm')) || 0;
      const held = value(new RegExp(`^switchyard_kv_index_blocks\\{pod="${origin}",trusted="true"\\} (\\d+)$`, 'm'));
      assert.ok(held >= 0, `index of ${mock.url} reported`);
      blocks += held;
    }
    assert.ok(received > 0 && blocks > 0, `events ${received}, blocks ${blocks}`);
  });

  it('starts a restarted engine\'s index over', async () => {
    const prompt = words('restart', 64);
    const first = await post(`${router.url}/v1/completions`, { model: BASE, prompt, max_tokens: 2 });
    const i = Number(String(first.headers['x-mock-instance']).slice(3));
    const pod = `default/pod-${i}`;
    await waitFor(async () => (await matched({ model: BASE, prompt })).get(pod) === 4, 5000, 'the prompt to be indexed');
    const old = mocks[i];
    await old.close();
    mocks[i] = await restartOnSamePorts(i, old);
    await waitFor(async () => (await matched({ model: BASE, prompt })).get(pod) === 0, 10_000, 'the restarted pod to hold nothing');
    await trustedEverywhere();
  });
});

describe('kvcache-aware tokenization and the client', () => {
  let env: TestEnv;
  let router: RouterApp;
  let tokenizer: Server;
  /** Tokenize calls the (never answering) tokenizer service received, and those whose connection closed since. */
  const calls = { received: 0, closed: 0 };

  before(async () => {
    env = await createEnv();
    tokenizer = createServer((req) => {
      calls.received++;
      req.socket.once('close', () => calls.closed++);
    });
    await new Promise<void>((resolve) => tokenizer.listen(0, '127.0.0.1', resolve));
    const { port } = tokenizer.address() as AddressInfo;
    const mock = await startMock(env, { model: BASE, kvEventsPort: 0, kvReplayPort: 0 });
    await writeYaml(env, 'config.yaml', [modelServer('base', { app: 'base', model: BASE }), simpleRoute('base-route', BASE, 'base'), kvPod('pod-0', mock)]);
    const file = await writeRouterConfig(env, `scheduler:
  pluginConfig:
  - name: kvcache-aware
    args:
      tokenizeTimeoutMs: 600000
      tokenizerService: {enabled: true, endpoint: "http://127.0.0.1:${port}", fallbackToEngine: false}
  plugins:
    Score:
      enabled: [{name: kvcache-aware, weight: 1}]
`);
    router = await startRouter(env, { routerConfigFile: file, debugPort: 0, metricsPort: 0 });
    await waitFor(() => [...router.kvBlocks.entries()].some(([, , trusted]) => trusted), 5000, 'the pod trusted');
  });
  after(async () => {
    tokenizer.closeAllConnections();
    await new Promise((resolve) => tokenizer.close(resolve));
    await env.cleanup();
  });

  it('a client leaving while its prompt is tokenized cancels the tokenize call', async () => {
    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const pending = controllers.map((controller, i) =>
      request(`${router.url}/v1/completions`, {
        method: 'POST', signal: controller.signal,
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: BASE, prompt: words(`left${i}w`, 40), max_tokens: 2 }),
      }).then(() => 'answered', () => 'aborted'));
    await waitFor(() => calls.received === 5, 5000, 'the prompts sent to the tokenizer');
    for (const controller of controllers) controller.abort();
    assert.deepEqual(await Promise.all(pending), ['aborted', 'aborted', 'aborted', 'aborted', 'aborted']);
    // The tokenize timeout is 10 minutes: only the clients' leaving can end these calls.
    await waitFor(() => calls.closed === 5, 5000, 'every tokenize call cancelled');
    await waitFor(() => router.server.activeRequests === 0, 3000, 'the requests ended');
  });
});
