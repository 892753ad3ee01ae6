// The Responses API's stored-response endpoints through the router: GET /v1/responses/{id} and POST …/cancel name no
// model, and vLLM keeps each stored response in the memory of the instance that made it. The router sends them to
// that pod (learnt when it relayed the response, or from another replica through Redis), as the model's request of
// the caller who made it.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { RequestRecord } from '../../src/observability/request-record.ts';
import { pdPods, pdServer, startPdMocks, type Connector } from '../support/pd-fixtures.ts';
import { createEnv, get, modelServer, podStub, simpleRoute, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { BASE, schedulerYaml, startSimulated, writeRouterConfig } from '../support/scheduling.ts';

/** The text of a response's output messages (the SDK adds output_text to some answers only). */
const outputText = (response: OpenAI.Responses.Response): string =>
  response.output.flatMap((item) => (item.type === 'message' ? item.content.map((part) => (part.type === 'output_text' ? part.text : '')) : [])).join('');

const KEYS = { alice: 'sk-alice-0123456789', bob: 'sk-bob-0123456789' };

describe('stored responses: GET /v1/responses/{id} and cancel', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mocks: MockEngineHandle[];
  const records: RequestRecord[] = [];
  const as = (user: keyof typeof KEYS): OpenAI => new OpenAI({ baseURL: `${router.url}/v1`, apiKey: KEYS[user], maxRetries: 0 });
  const writePods = (live: readonly number[]) =>
    writeYaml(env, 'config.yaml', [modelServer('base', { app: 'base', model: BASE }), simpleRoute('base-route', BASE, 'base'), ...live.map((i) => podStub(`pod-${i}`, 'base', mocks[i].port))]);

  before(async () => {
    env = await createEnv();
    mocks = [await startSimulated(env, 's0'), await startSimulated(env, 's1'), await startSimulated(env, 's2')];
    await writePods([0, 1, 2]);
    // Random choice: a request sent anywhere but to the storing pod would find nothing two times in three.
    const keysFile = `${env.dir}-router/keys.yaml`; // beside the router configuration, removed with it
    const routerConfig = await writeRouterConfig(env, `${schedulerYaml({ scores: [{ name: 'random' }] })}auth:\n  apiKeysFile: ${keysFile}\n`);
    await writeFile(keysFile, Object.entries(KEYS).map(([user, key]) => `- user: ${user}\n  key: ${key}\n`).join(''));
    router = await startRouter(env, { routerConfigFile: routerConfig, onRequestDone: (record) => records.push(record), exposeMetricsOnRouterPort: true });
  });
  after(() => env.cleanup());

  it('retrieves each response from the pod that stored it, for the caller who made it', async () => {
    const alice = as('alice');
    const made: { id: string; text: string; pod: string | null }[] = [];
    for (let i = 0; i < 6; i++) {
      if (i % 2 === 0) {
        const { data, response } = await alice.responses.create({ model: BASE, input: `Story ${i}, please.`, max_output_tokens: 4 }).withResponse();
        made.push({ id: data.id, text: outputText(data), pod: response.headers.get('x-mock-instance') });
      } else {
        const { data: stream, response } = await alice.responses.create({ model: BASE, input: `Poem ${i}, please.`, max_output_tokens: 4, stream: true }).withResponse();
        let id = '';
        let text = '';
        for await (const event of stream) {
          if (event.type === 'response.completed' || event.type === 'response.incomplete') {
            id = event.response.id;
            text = outputText(event.response);
          }
        }
        made.push({ id, text, pod: response.headers.get('x-mock-instance') });
      }
    }
    assert.ok(new Set(made.map((m) => m.pod)).size > 1, 'random choice spread the responses over the pods');
    records.splice(0);
    for (const { id, text, pod } of made) {
      const { data, response } = await alice.responses.retrieve(id).withResponse();
      assert.equal(data.id, id);
      assert.equal(outputText(data), text);
      assert.ok(text.length > 0);
      assert.equal(response.headers.get('x-mock-instance'), pod, `${id} came from the pod that stored it`);
    }
    await waitFor(() => records.length === made.length, 5000, 'the retrievals recorded');
    for (const record of records.splice(0)) {
      assert.equal(record.status, 200);
      assert.equal(record.model, BASE, 'recorded as the model of the request that made it');
      assert.equal(record.user, 'alice');
      assert.equal(record.outcome?.usage, null, "the stored response's usage is not counted again");
    }
    const metrics = (await get(`${router.url}/metrics`)).text;
    assert.match(metrics, /path="\/v1\/responses\/\{response_id\}"/, 'one path label for every id');
    assert.doesNotMatch(metrics, new RegExp(made[0].id), 'no response id in a label');
  });

  it("answers another caller, an unknown id and a forgotten pod with 404, and passes the pod's answer to cancel on", async () => {
    const alice = as('alice');
    const created = await alice.responses.create({ model: BASE, input: 'Keep this.', max_output_tokens: 2 });

    await assert.rejects(as('bob').responses.retrieve(created.id), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.equal(err.message, `404 Response with id '${created.id}' not found.`);
      return true;
    }, "bob does not see alice's response");

    // store: false: the pod keeps nothing, and the router remembers nothing (nor asks the pod).
    const unstored = await alice.responses.create({ model: BASE, input: 'Forget this.', max_output_tokens: 2, store: false });
    const forgotten = await fetch(`${router.url}/v1/responses/${unstored.id}`, { headers: { authorization: `Bearer ${KEYS.alice}` } });
    assert.equal(forgotten.status, 404);
    assert.equal(((await forgotten.json()) as { error: { code: string } }).error.code, 'response_not_found', "the router's 404, not a pod's");

    const unknown = await fetch(`${router.url}/v1/responses/resp_0123abc`, { headers: { authorization: `Bearer ${KEYS.alice}` } });
    assert.equal(unknown.status, 404);
    assert.ok(unknown.headers.get('x-request-id'));
    const body = (await unknown.json()) as { error: { type: string; code: string; message: string } };
    assert.deepEqual({ type: body.error.type, code: body.error.code }, { type: 'invalid_request_error', code: 'response_not_found' });

    const anonymous = await fetch(`${router.url}/v1/responses/${created.id}`);
    assert.equal(anonymous.status, 401, 'authentication applies');

    // The pod answers: a response that finished cannot be cancelled (vLLM's 400).
    await assert.rejects(alice.responses.cancel(created.id), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.match(err.message, /Cannot cancel a synchronous response/);
      return true;
    });

    const wrongMethod = await fetch(`${router.url}/v1/responses/${created.id}`, { method: 'PUT', headers: { authorization: `Bearer ${KEYS.alice}` } });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, DELETE');

    // The pod that stored it leaves the ModelServer: its responses went with it.
    const { response } = await alice.responses.retrieve(created.id).withResponse();
    const owner = mocks.findIndex((m) => m.instanceName === response.headers.get('x-mock-instance'));
    assert.ok(owner >= 0);
    await writePods([0, 1, 2].filter((i) => i !== owner));
    await waitFor(async () => (await fetch(`${router.url}/v1/responses/${created.id}`, { headers: { authorization: `Bearer ${KEYS.alice}` } })).status === 404, 5000, 'the reload');
    await assert.rejects(alice.responses.retrieve(created.id), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.match(err.message, new RegExp(`pod default/pod-${owner}, which stored it, is not a ready pod of ModelServer default/base`));
      return true;
    });
  });

  it("refuses another caller's follow-up of a response as it refuses its GET: continuing it would show them the conversation", async () => {
    const alice = as('alice');
    const created = await alice.responses.create({ model: BASE, input: 'My password is hunter2.', max_output_tokens: 2 });
    records.splice(0);
    await assert.rejects(as('bob').responses.create({ model: BASE, input: 'What did I just tell you?', previous_response_id: created.id, max_output_tokens: 2 }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.equal(err.message, `404 Response with id '${created.id}' not found.`);
      return true;
    });
    await waitFor(() => records.length === 1, 5000, 'the refusal recorded');
    assert.deepEqual([records[0].status, records[0].user, records[0].outcome], [404, 'bob', null], 'refused by the router, before any pod');
    const followUp = await alice.responses.create({ model: BASE, input: 'And then?', previous_response_id: created.id, max_output_tokens: 2 });
    assert.equal(followUp.previous_response_id, created.id, 'the caller who made it continues it');
  });
});

describe('stored responses: a route that splits its traffic between two ModelServers', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mocks: MockEngineHandle[];
  const split = simpleRoute('base-route', BASE, 'left').replace('    - modelServerName: "left"', '    - modelServerName: "left"\n      weight: 50\n    - modelServerName: "right"\n      weight: 50');
  const writeConfig = (rightPods: boolean) =>
    writeYaml(env, 'config.yaml', [
      modelServer('left', { app: 'left', model: BASE }), modelServer('right', { app: 'right', model: BASE }), split,
      podStub('pod-0', 'left', mocks[0].port), podStub('pod-1', 'left', mocks[1].port), ...(rightPods ? [podStub('pod-2', 'right', mocks[2].port)] : []),
    ]);

  before(async () => {
    env = await createEnv();
    mocks = [await startSimulated(env, 'w0'), await startSimulated(env, 'w1'), await startSimulated(env, 'w2')];
    await writeConfig(true);
    router = await startRouter(env);
  });
  after(() => env.cleanup());

  it('fetches each response from its pod, whichever ModelServer the weights would pick now', async () => {
    const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const made: { id: string; pod: string | null }[] = [];
    for (let i = 0; i < 12; i++) {
      const { data, response } = await openai.responses.create({ model: BASE, input: `Item ${i}.`, max_output_tokens: 2 }).withResponse();
      made.push({ id: data.id, pod: response.headers.get('x-mock-instance') });
    }
    // Both ModelServers made some (the scheduler may keep all of left's on one of its two pods).
    const right = made.filter((m) => m.pod === mocks[2].instanceName).length;
    assert.ok(right > 0 && right < made.length, `the weights spread the responses over both ModelServers (${right} of ${made.length} on right)`);
    for (const { id, pod } of made) {
      for (let fetch = 0; fetch < 3; fetch++) {
        const { data, response } = await openai.responses.retrieve(id).withResponse();
        assert.equal(data.id, id);
        assert.equal(response.headers.get('x-mock-instance'), pod);
      }
    }
  });

  it('keeps a conversation on its pod, whichever ModelServer the weights would pick for a follow-up', async () => {
    const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 });
    for (let conversation = 0; conversation < 4; conversation++) {
      const first = await openai.responses.create({ model: BASE, input: `Conversation ${conversation}.`, max_output_tokens: 2 }).withResponse();
      const home = first.response.headers.get('x-mock-instance');
      let previous = first.data.id;
      for (let turn = 1; turn <= 4; turn++) {
        const next = await openai.responses.create({ model: BASE, input: `Turn ${turn}.`, previous_response_id: previous, max_output_tokens: 2 }).withResponse();
        assert.equal(next.response.headers.get('x-mock-instance'), home, `conversation ${conversation}, turn ${turn}`);
        previous = next.data.id;
      }
    }
  });

  it("keeps the route's weights for new responses when each is fetched and continued before the next: those take no turn", async () => {
    const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const servedBy: string[] = [];
    for (let i = 0; i < 8; i++) {
      // An agent's loop: a new response, fetched (as a background one is polled), continued, and that fetched too.
      const { data, response } = await openai.responses.create({ model: BASE, input: `Task ${i}.`, max_output_tokens: 2 }).withResponse();
      servedBy.push(response.headers.get('x-mock-instance') === 'w2' ? 'right' : 'left');
      await openai.responses.retrieve(data.id);
      const next = await openai.responses.create({ model: BASE, input: 'Go on.', previous_response_id: data.id, max_output_tokens: 2 });
      await openai.responses.retrieve(next.id);
    }
    // Smooth weighted round-robin at 50/50 alternates exactly.
    assert.deepEqual(servedBy.filter((side) => side === 'right').length, 4, servedBy.join(' '));
  });

  it("fetches and continues a response while the ModelServer the weights may pick has no ready pod: it is not sent there", async () => {
    const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const made: { id: string; pod: string | null }[] = [];
    let onRight = '';
    while (made.length < 3 || onRight === '') {
      const { data, response } = await openai.responses.create({ model: BASE, input: `Left ${made.length}.`, max_output_tokens: 2 }).withResponse();
      if (response.headers.get('x-mock-instance') !== 'w2') made.push({ id: data.id, pod: response.headers.get('x-mock-instance') });
      else onRight = data.id;
    }
    await writeConfig(false); // ModelServer right scaled to zero
    await waitFor(async () => (await fetch(`${router.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: BASE, input: 'x', max_output_tokens: 1 }) })).status === 503, 5000, 'the reload');
    for (const { id, pod } of made) {
      for (let attempt = 0; attempt < 4; attempt++) {
        const { data, response } = await openai.responses.retrieve(id).withResponse();
        assert.equal(data.id, id);
        assert.equal(response.headers.get('x-mock-instance'), pod);
        const next = await openai.responses.create({ model: BASE, input: 'Go on.', previous_response_id: id, max_output_tokens: 2 }).withResponse();
        assert.equal(next.response.headers.get('x-mock-instance'), pod, 'the follow-up went to the pod storing the response');
      }
    }
    // The pod that stored it is gone: the follow-up goes where the route sends it, and the engine there answers.
    const orphan = await fetch(`${router.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: BASE, input: 'Go on.', previous_response_id: onRight, max_output_tokens: 1 }) });
    assert.ok(orphan.status === 404 || orphan.status === 503, String(orphan.status));
    if (orphan.status === 503) assert.match(((await orphan.json()) as { error: { message: string } }).error.message, /no ready pods for ModelServer default\/right/, 'the route picked the empty ModelServer');
    else assert.match(orphan.headers.get('x-mock-instance') ?? '', /^w[01]$/, "a left pod's own 404");
    await writeConfig(true);
  });
});

describe('stored responses: made by a prefill/decode pair', () => {
  let env: TestEnv;
  let router: RouterApp;
  const PD_MODEL = 'org/pd-model';
  // Connectors whose pair serves /v1/responses (nixl and mooncake send it to one decode pod).
  const PAIRED: readonly Connector[] = ['http', 'lmcache', 'sglang'];

  before(async () => {
    env = await createEnv();
    const docs: string[] = [];
    for (const connector of PAIRED) {
      const pairs = await startPdMocks(env, `pd-${connector}`, connector, ['g1', 'g2'], { model: PD_MODEL });
      docs.push(pdServer(`pd-${connector}`, connector, { model: PD_MODEL }), ...pdPods(`pd-${connector}`, pairs), simpleRoute(`pd-${connector}`, `pd-${connector}`, `pd-${connector}`));
    }
    await writeYaml(env, 'pd.yaml', docs);
    router = await startRouter(env);
  });
  after(() => env.cleanup());

  it("retrieves the response from the pair's decode pod, which stored it", async () => {
    const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 });
    for (const connector of PAIRED) {
      for (let i = 0; i < 3; i++) {
        const { data, response } = await openai.responses.create({ model: `pd-${connector}`, input: `Pair ${connector} ${i}.`, max_output_tokens: 3 }).withResponse();
        const decode = response.headers.get('x-mock-instance');
        assert.match(decode ?? '', /-decode$/);
        const fetched = await openai.responses.retrieve(data.id).withResponse();
        assert.equal(fetched.data.id, data.id, connector);
        assert.equal(outputText(fetched.data), outputText(data), connector);
        assert.equal(fetched.response.headers.get('x-mock-instance'), decode, `${connector}: the decode pod that answered`);
      }
    }
  });
});

describe('stored responses: a route whose only rule matches a header', () => {
  let env: TestEnv;
  let router: RouterApp;

  before(async () => {
    env = await createEnv();
    const mock = await startSimulated(env, 'h0');
    const premium = simpleRoute('base-route', BASE, 'base').replace('  - name: default\n', '  - name: premium\n    modelMatch: {headers: {x-tier: {exact: premium}}}\n');
    await writeYaml(env, 'config.yaml', [modelServer('base', { app: 'base', model: BASE }), premium, podStub('pod-0', 'base', mock.port)]);
    router = await startRouter(env);
  });
  after(() => env.cleanup());

  it('fetches a response made with the header without it (the SDK sends no custom header on retrieve)', async () => {
    const premium = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0, defaultHeaders: { 'x-tier': 'premium' } });
    const plain = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 });
    await assert.rejects(plain.responses.create({ model: BASE, input: 'Hi.', max_output_tokens: 2 }), OpenAI.NotFoundError, 'the rule needs its header');
    const made = await premium.responses.create({ model: BASE, input: 'Hi.', max_output_tokens: 2 });
    assert.equal((await plain.responses.retrieve(made.id)).id, made.id);
  });
});

describe('stored responses: a background response under a token rate limit', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mock: MockEngineHandle;
  const records: RequestRecord[] = [];
  const OUTPUT = 8;

  before(async () => {
    env = await createEnv();
    mock = await startSimulated(env, 'bg');
    const limited = simpleRoute('base-route', BASE, 'base').replace('spec:\n', `spec:\n  rateLimit: {outputTokensPerUnit: ${OUTPUT + 1}, unit: hour}\n`);
    await writeYaml(env, 'config.yaml', [modelServer('base', { app: 'base', model: BASE }), limited, podStub('pod-0', 'base', mock.port)]);
    router = await startRouter(env, { onRequestDone: (record) => records.push(record) });
  });
  after(() => env.cleanup());

  it('charges its output tokens when it is first fetched done: it was answered before it generated', async () => {
    const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const queued = await openai.responses.create({ model: BASE, input: 'Write at length.', max_output_tokens: OUTPUT, background: true, store: true });
    assert.equal(queued.status, 'queued');
    // Watched at the pod itself: the router sees nothing of it.
    await waitFor(async () => ((await (await fetch(`${mock.url}/v1/responses/${queued.id}`)).json()) as { status: string }).status === 'incomplete', 10_000, 'the background generation');
    // One token of the route's OUTPUT + 1 spent by a request of its own: the background output is not counted yet.
    assert.equal((await openai.responses.create({ model: BASE, input: 'Short.', max_output_tokens: 1 })).status, 'incomplete');
    records.splice(0);

    const done = await openai.responses.retrieve(queued.id);
    assert.equal(done.usage?.output_tokens, OUTPUT);
    await waitFor(() => records.length === 1, 5000, 'the retrieval recorded');
    assert.deepEqual(records[0].outcome?.usage, { promptTokens: 0, completionTokens: OUTPUT, totalTokens: OUTPUT }, 'the output charged by this request');
    await openai.responses.retrieve(queued.id);
    await waitFor(() => records.length === 2, 5000, 'the second retrieval recorded');
    assert.equal(records[1].outcome?.usage, null, 'charged once');

    await assert.rejects(openai.responses.create({ model: BASE, input: 'More?', max_output_tokens: 1 }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.match(err.message, /output tokens/);
      return true;
    });
  });
});

describe('stored responses: a background response streamed to a client that leaves', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mock: MockEngineHandle;
  const records: RequestRecord[] = [];
  const OUTPUT = 30;

  before(async () => {
    env = await createEnv();
    mock = await startSimulated(env, 'bgs', { itlMs: 20 });
    await writeYaml(env, 'config.yaml', [modelServer('base', { app: 'base', model: BASE }), simpleRoute('base-route', BASE, 'base'), podStub('pod-0', 'base', mock.port)]);
    router = await startRouter(env, { onRequestDone: (record) => records.push(record) });
  });
  after(() => env.cleanup());

  it('is fetched through the router once done, its output charged then: the pod generated on without the client', async () => {
    const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const stream = await openai.responses.create({ model: BASE, input: 'Write at length.', max_output_tokens: OUTPUT, background: true, stream: true });
    let id = '';
    for await (const event of stream) {
      if (event.type === 'response.created') id = event.response.id;
      if (event.type === 'response.output_text.delta') break; // the connection drops, as the API's resumable streams expect
    }
    assert.ok(id.startsWith('resp_'));
    await waitFor(() => records.length === 1, 5000, 'the stream recorded');
    assert.equal(records[0].status, 0, 'the client left');
    await waitFor(async () => ((await (await fetch(`${mock.url}/v1/responses/${id}`)).json()) as { status: string }).status === 'incomplete', 10_000, 'the background generation');
    records.splice(0);

    const done = await openai.responses.retrieve(id);
    assert.equal(done.usage?.output_tokens, OUTPUT);
    await waitFor(() => records.length === 1, 5000, 'the retrieval recorded');
    assert.deepEqual(records[0].outcome?.usage, { promptTokens: 0, completionTokens: OUTPUT, totalTokens: OUTPUT }, 'the output charged by this request');
  });
});

describe('stored responses: two router replicas sharing Redis', () => {
  // Two replicas behind one Service, each with its own configuration directory holding the same objects.
  const envs: TestEnv[] = [];
  const routers: RouterApp[] = [];
  const records: RequestRecord[][] = [[], []];
  let mocks: MockEngineHandle[];
  let redis: RedisServer;

  before(async () => {
    redis = await startRedis();
    envs.push(await createEnv(), await createEnv());
    mocks = [await startSimulated(envs[0], 'm0'), await startSimulated(envs[0], 'm1'), await startSimulated(envs[0], 'm2')];
    for (const env of envs) {
      await writeYaml(env, 'config.yaml', [modelServer('base', { app: 'base', model: BASE }), simpleRoute('base-route', BASE, 'base'), ...mocks.map((m, i) => podStub(`pod-${i}`, 'base', m.port))]);
      const routerConfig = await writeRouterConfig(env, schedulerYaml({ scores: [{ name: 'random' }] }));
      const replica = routers.length;
      routers.push(await startRouter(env, { routerConfigFile: routerConfig, onRequestDone: (record) => records[replica].push(record), env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) } }));
    }
  });
  after(async () => {
    for (const env of envs) await env.cleanup();
    await redis.kill();
  });

  it("charges a background response's output once, whichever replicas fetch it done", async () => {
    const [a, b] = routers.map((router) => new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 }));
    const queued = await a.responses.create({ model: BASE, input: 'Write at length.', max_output_tokens: 5, background: true, store: true });
    await waitFor(async () => {
      for (const m of mocks) {
        const answer = await fetch(`${m.url}/v1/responses/${queued.id}`);
        if (answer.ok && ((await answer.json()) as { status: string }).status === 'incomplete') return true;
      }
      return false;
    }, 10_000, 'the background generation');
    for (const list of records) list.splice(0);
    assert.equal((await b.responses.retrieve(queued.id)).usage?.output_tokens, 5, 'fetched done through the other replica');
    assert.equal((await a.responses.retrieve(queued.id)).usage?.output_tokens, 5, 'and through the replica that relayed it');
    assert.equal((await b.responses.retrieve(queued.id)).usage?.output_tokens, 5);
    await waitFor(() => records[0].length + records[1].length === 3, 5000, 'the retrievals recorded');
    const charged = [...records[0], ...records[1]].map((record) => record.outcome?.usage?.completionTokens ?? 0);
    assert.deepEqual(charged.sort(), [0, 0, 5], 'the output charged by one retrieval only');
  });

  it("lets either replica fetch and continue a response the other relayed, and answers 503 while Redis is away", async () => {
    const [a, b] = routers.map((router) => new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'none', maxRetries: 0 }));
    const first = await a.responses.create({ model: BASE, input: 'Tell me a story.', max_output_tokens: 3 }).withResponse();
    const home = first.response.headers.get('x-mock-instance');
    const fetched = await b.responses.retrieve(first.data.id).withResponse();
    assert.equal(fetched.data.id, first.data.id);
    assert.equal(fetched.response.headers.get('x-mock-instance'), home);
    let previous = first.data.id;
    for (let turn = 1; turn <= 6; turn++) {
      // Alternating replicas, as a Service spreads one conversation's requests.
      const next = await (turn % 2 === 1 ? b : a).responses.create({ model: BASE, input: `Go on, part ${turn}.`, previous_response_id: previous, max_output_tokens: 2 }).withResponse();
      assert.equal(next.response.headers.get('x-mock-instance'), home, `turn ${turn}`);
      previous = next.data.id;
    }

    const late = await a.responses.create({ model: BASE, input: 'One more.', max_output_tokens: 2 });
    await redis.kill();
    const unavailable = await fetch(`${routers[1].url}/v1/responses/${late.id}`);
    assert.equal(unavailable.status, 503);
    assert.equal(((await unavailable.json()) as { error: { code: string } }).error.code, 'response_index_unavailable');
    assert.equal((await a.responses.retrieve(late.id)).id, late.id, 'the replica that relayed it still knows');
  });
});
