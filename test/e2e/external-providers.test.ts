// ExternalModelProvider targets end to end: fake OpenAI and Anthropic APIs over HTTPS (a certificate this test makes,
// trusted through --upstream-ca), called through the router by the official clients. What reached the provider is
// asserted: path (baseURL joined), headers (only the allowed client headers, the Secret's credential, static
// headers), body (spec.model). Also: usage, Secrets missing or unlabelled, a provider next to a pod in one weighted
// rule, pass-through errors, Retry-After, timeouts, TLS verification, and the provider status in the config dump.
import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { request } from 'undici';
import { accessLogEntry } from '../../src/observability/access-log.ts';
import type { Explanation } from '../../src/observability/explain/explanation.ts';
import { requestTokens } from '../../src/observability/token-estimate.ts';
import type { RequestRecord } from '../../src/server/inference-handler.ts';
import { createEnv, get, modelServer, podStub, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { startFakeProvider, type FakeProvider } from '../support/fake-providers.ts';
import { scrape, total } from '../support/metrics.ts';
import { sseData } from '../support/raw-http.ts';
import { createTestCa } from '../support/tls.ts';

const LABEL = 'networking.serving.volcano.sh/external-model-provider-credential';
const OPENAI_KEY = 'sk-provider-openai';
const ANTHROPIC_KEY = 'sk-ant-provider';

const secret = (name: string, values: string, labelled = true): string =>
  ['apiVersion: v1', 'kind: Secret', 'metadata:', `  name: ${name}`, '  namespace: default', ...(labelled ? ['  labels:', `    ${LABEL}: "true"`] : []), values].join('\n');

function provider(name: string, type: 'OpenAI' | 'Anthropic', baseURL: string, extra: string[] = []): string {
  return ['apiVersion: networking.serving.volcano.sh/v1alpha1', 'kind: ExternalModelProvider', 'metadata:', `  name: ${name}`, '  namespace: default',
    ...extra.filter((line) => line.startsWith('  annotations') || line.startsWith('    switchyard')),
    'spec:', `  providerType: ${type}`, `  baseURL: ${baseURL}`, ...extra.filter((line) => !line.startsWith('  annotations') && !line.startsWith('    switchyard'))].join('\n');
}

function route(name: string, targets: string[]): string {
  return ['apiVersion: networking.serving.volcano.sh/v1alpha1', 'kind: ModelRoute', 'metadata:', `  name: ${name}`, '  namespace: default', 'spec:',
    `  modelName: ${name}`, '  rules:', '  - name: default', '    targetModels:', ...targets].join('\n');
}
const toProvider = (name: string, weight?: number): string => `    - externalModelProviderName: ${name}${weight === undefined ? '' : `\n      weight: ${weight}`}`;

describe('external providers', () => {
  let env: TestEnv;
  let openaiProvider: FakeProvider;
  let anthropicProvider: FakeProvider;
  let strangeProvider: FakeProvider;
  let url: string;
  let debug: string;
  let openai: OpenAI;
  let anthropic: Anthropic;
  const records: RequestRecord[] = [];

  before(async () => {
    env = await createEnv();
    const ca = createTestCa();
    const caFile = join(env.dir, 'ca.pem.txt');
    await writeFile(caFile, ca.cert);
    openaiProvider = await startFakeProvider('OpenAI', ca.issue());
    anthropicProvider = await startFakeProvider('Anthropic', ca.issue());
    // Its certificate comes from a CA the router does not know.
    strangeProvider = await startFakeProvider('OpenAI', createTestCa('Unknown CA').issue());
    const mock = await startMock(env, { model: 'local-model' });
    await writeYaml(env, 'providers.yaml', [
      secret('openai-key', `data:\n  token: ${Buffer.from(`${OPENAI_KEY}\n`).toString('base64')}`),
      secret('anthropic-key', `stringData:\n  api-key: ${ANTHROPIC_KEY}`),
      secret('unlabelled-key', 'stringData:\n  token: x', false),
      provider('openai', 'OpenAI', `${openaiProvider.url}/openai/v1`, [
        '  model: gpt-upstream', '  auth:', '    secretRef: {name: openai-key, key: token}', '  headers:', '    OpenAI-Organization: org-switchyard', '    X-Team: "Zürich €"', '    X-Request-Id: static-id', '    Accept-Encoding: br',
      ]),
      provider('anthropic', 'Anthropic', anthropicProvider.url, ['  auth:', '    secretRef: {name: anthropic-key, key: api-key}']),
      provider('no-secret', 'OpenAI', openaiProvider.url, ['  auth:', '    secretRef: {name: absent, key: token}']),
      provider('no-label', 'OpenAI', openaiProvider.url, ['  auth:', '    secretRef: {name: unlabelled-key, key: token}']),
      provider('slow', 'OpenAI', `${openaiProvider.url}/v1`, ['  annotations:', '    switchyard.dev/response-timeout: 300ms']),
      provider('deadline', 'OpenAI', `${openaiProvider.url}/v1`, ['  annotations:', '    switchyard.dev/response-timeout: 3s']),
      provider('gone', 'OpenAI', 'https://127.0.0.1:1/v1'),
      provider('strange-verified', 'OpenAI', `${strangeProvider.url}/v1`),
      provider('strange-insecure', 'OpenAI', `${strangeProvider.url}/v1`, ['  insecureSkipVerify: true']),
      route('gpt', [toProvider('openai')]),
      route('claude', [toProvider('anthropic')]),
      route('no-secret', [toProvider('no-secret')]),
      route('no-label', [toProvider('no-label')]),
      route('slow', [toProvider('slow')]),
      route('deadline', [toProvider('deadline')]),
      route('gone', [toProvider('gone')]),
      route('strange-verified', [toProvider('strange-verified')]),
      route('strange-insecure', [toProvider('strange-insecure')]),
      route('hybrid', [toProvider('openai', 50), '    - modelServerName: local', '      weight: 50']),
      route('limited', [toProvider('openai')]).replace('  rules:', '  rateLimit: {inputTokensPerUnit: 1000, unit: minute}\n  rules:'),
      modelServer('local', { model: 'local-model' }),
      podStub('local-0', 'local', mock.port),
    ]);
    const router = await startRouter(env, { onRequestDone: (record) => records.push(record), upstreamCaFile: caFile, debugPort: 0, metricsPort: 0, allowExplainHeader: true });
    url = router.url;
    debug = router.debugUrl!;
    openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'client-key', maxRetries: 0, defaultHeaders: { cookie: 'session=secret', 'x-api-key': 'client-x-key' } });
    anthropic = new Anthropic({ baseURL: url, apiKey: 'client-anthropic-key', maxRetries: 0 });
  });
  after(async () => {
    await env.cleanup();
    await Promise.all([openaiProvider.close(), anthropicProvider.close(), strangeProvider.close()]);
  });

  const lastRecord = async (count: number): Promise<RequestRecord> => {
    await waitFor(() => records.length > count, 2000, 'the request record');
    return records[records.length - 1];
  };
  const post = (path: string, body: object) =>
    request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  describe('OpenAI provider', () => {
    it('joins baseURL, sends the credential and static headers but none of the client\'s secrets, rewrites the model', async () => {
      const count = records.length;
      const answer = await openai.chat.completions.create({ model: 'gpt', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(answer.choices[0].message.content, 'Hello from the provider');
      const seen = openaiProvider.requests.at(-1)!;
      assert.equal(seen.path, '/openai/v1/chat/completions');
      assert.equal(seen.headers.authorization, `Bearer ${OPENAI_KEY}`, 'the Secret\'s token, trimmed, never the client\'s key');
      assert.equal(seen.headers['openai-organization'], 'org-switchyard');
      assert.equal(Buffer.from(String(seen.headers['x-team']), 'latin1').toString('utf8'), 'Zürich €', 'a static header is sent as UTF-8, as Kthena sends it');
      assert.equal(seen.headers.cookie, undefined);
      assert.equal(seen.headers['x-api-key'], undefined);
      assert.equal(seen.headers['user-agent'], undefined, 'only allow-listed client headers');
      assert.match(String(seen.headers['x-request-id']), /^[^,]+$/, 'one x-request-id');
      assert.notEqual(seen.headers['x-request-id'], 'static-id', "the router's per request, not spec.headers'");
      assert.equal(seen.headers['accept-encoding'], 'br', "spec.headers' accept-encoding on a non-streaming request");
      assert.match(String(seen.headers.traceparent), /^00-[0-9a-f]{32}-/);
      assert.deepEqual(seen.body, { model: 'gpt-upstream', messages: [{ role: 'user', content: 'hi' }] });
      const record = await lastRecord(count);
      const entry = accessLogEntry(record, requestTokens(record.outcome?.usage ?? null, record.body));
      assert.equal(entry.backend_type, 'external_provider');
      assert.equal(entry.backend_name, 'default/openai');
      assert.equal(entry.upstream_model, 'gpt-upstream');
      assert.equal(entry.input_tokens, 11);
      assert.equal(entry.output_tokens, 4);
    });

    it('streams chat unbuffered with usage asked for and hidden, as for pods', async () => {
      const count = records.length;
      const stream = await openai.chat.completions.create({ model: 'gpt', messages: [{ role: 'user', content: 'hi' }], stream: true });
      let text = '';
      for await (const chunk of stream) {
        assert.ok(chunk.usage == null, 'the usage chunk the router asked for stays hidden');
        text += chunk.choices[0]?.delta.content ?? '';
      }
      assert.equal(text, 'Hello from the provider');
      assert.deepEqual(openaiProvider.requests.at(-1)!.body.stream_options, { include_usage: true });
      assert.equal(openaiProvider.requests.at(-1)!.headers['accept-encoding'], 'identity', "identity only, without spec.headers' br");
      assert.deepEqual((await lastRecord(count)).outcome?.usage, { promptTokens: 11, completionTokens: 4, totalTokens: 15 });
    });

    it('serves /v1/responses streamed and not, with no stream_options added', async () => {
      const whole = await openai.responses.create({ model: 'gpt', input: 'hi' });
      assert.equal(whole.output_text, 'Hello from the provider');
      assert.equal(openaiProvider.requests.at(-1)!.path, '/openai/v1/responses');
      const count = records.length;
      const stream = await openai.responses.create({ model: 'gpt', input: 'hi', stream: true });
      let text = '';
      for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
      assert.equal(text, 'Hello from the provider');
      assert.equal('stream_options' in openaiProvider.requests.at(-1)!.body, false);
      assert.deepEqual((await lastRecord(count)).outcome?.usage, { promptTokens: 11, completionTokens: 4, totalTokens: 15 });
    });

    it('fetches a response the provider stored from the provider, with its credential, counting no usage again', async () => {
      const made = await openai.responses.create({ model: 'gpt', input: 'keep' });
      const count = records.length;
      const fetched = await openai.responses.retrieve(made.id);
      assert.equal(fetched.id, made.id);
      const seen = openaiProvider.requests.at(-1)!;
      assert.deepEqual({ method: seen.method, path: seen.path }, { method: 'GET', path: `/openai/v1/responses/${made.id}` });
      assert.equal(seen.headers.authorization, `Bearer ${OPENAI_KEY}`);
      const record = await lastRecord(count);
      assert.equal(record.status, 200);
      assert.equal(record.outcome?.usage, null, 'its usage was counted when it was made');
    });

    it('refuses a path the provider type does not serve, sending nothing', async () => {
      const before = openaiProvider.requests.length;
      const res = await post('/v1/embeddings', { model: 'gpt', input: 'x' });
      assert.equal(res.statusCode, 400);
      assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'provider_path_unsupported');
      assert.equal(openaiProvider.requests.length, before);
    });
  });

  describe('Anthropic provider', () => {
    it('answers messages.create with the x-api-key from the Secret; usage counts cache tokens as input', async () => {
      const count = records.length;
      const message = await anthropic.messages.create({ model: 'claude', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
      assert.deepEqual(message.content.map((b) => (b.type === 'text' ? b.text : '')), ['Hello from the provider']);
      const seen = anthropicProvider.requests.at(-1)!;
      assert.equal(seen.path, '/v1/messages');
      assert.equal(seen.headers['x-api-key'], ANTHROPIC_KEY);
      assert.equal(seen.headers.authorization, undefined);
      assert.match(String(seen.headers['anthropic-version']), /^\d{4}-\d{2}-\d{2}$/, "the client's anthropic-version is forwarded");
      assert.equal(seen.body.model, 'claude');
      assert.deepEqual((await lastRecord(count)).outcome?.usage, { promptTokens: 12, completionTokens: 4, totalTokens: 16 });
    });

    it('streams messages unbuffered; usage from message_start and message_delta', async () => {
      const count = records.length;
      const stream = await anthropic.messages.create({ model: 'claude', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], stream: true });
      const types: string[] = [];
      for await (const event of stream) types.push(event.type);
      assert.equal(types[0], 'message_start');
      assert.equal(types.at(-1), 'message_stop');
      assert.equal('stream_options' in anthropicProvider.requests.at(-1)!.body, false);
      assert.deepEqual((await lastRecord(count)).outcome?.usage, { promptTokens: 12, completionTokens: 4, totalTokens: 16 });
    });
  });

  describe('credentials', () => {
    it('a missing Secret: 503 provider_not_ready naming it', async () => {
      const res = await post('/v1/chat/completions', { model: 'no-secret', messages: [] });
      assert.equal(res.statusCode, 503);
      const { error } = (await res.body.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'provider_not_ready');
      assert.match(error.message, /Secret default\/absent not found/);
    });

    it('a Secret without the credential label: 503 provider_not_ready naming the label', async () => {
      const res = await post('/v1/chat/completions', { model: 'no-label', messages: [] });
      assert.equal(res.statusCode, 503);
      const { error } = (await res.body.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'provider_not_ready');
      assert.ok(error.message.includes(LABEL));
    });

    it('shows each provider\'s status conditions in the config dump, never the credential', async () => {
      const dump = await get(`${debug}/debug/config_dump/externalmodelproviders`);
      assert.equal(dump.status, 200);
      assert.ok(!dump.text.includes(OPENAI_KEY) && !dump.text.includes(ANTHROPIC_KEY));
      const providers = (dump.json() as { externalmodelproviders: { name: string; status: { conditions: { type: string; status: string; reason: string }[] } }[] }).externalmodelproviders;
      const conditions = (name: string) => providers.find((p) => p.name === name)?.status.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
      assert.deepEqual(conditions('openai'), ['CredentialsResolved=True/CredentialResolved', 'Ready=True/Ready']);
      assert.deepEqual(conditions('no-secret'), ['CredentialsResolved=False/CredentialNotFound', 'Ready=False/CredentialNotFound']);
      assert.deepEqual(conditions('slow'), ['CredentialsResolved=True/CredentialNotRequired', 'Ready=True/Ready']);
    });
  });

  it('explains provider targets as they are served: the upstream model, and the path the provider refuses', async () => {
    const explain = async (path: string, model: string): Promise<Explanation> => {
      const res = await request(`${debug}/debug/explain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path, body: { model } }) });
      return (await res.body.json()) as Explanation;
    };
    const served = await explain('/v1/chat/completions', 'gpt');
    assert.equal(served.decision, 'routed');
    assert.deepEqual(served.target, { name: 'openai', kind: 'provider', key: 'default/openai', weight: 100 });
    assert.equal(served.upstreamModel, 'gpt-upstream', "the provider's spec.model");
    const refused = await explain('/v1/chat/completions', 'claude');
    assert.equal(refused.decision, 'refused', 'an Anthropic provider has no chat/completions');
    assert.equal(refused.error?.code, 'provider_path_unsupported');

    // A real request with x-switchyard-explain gets its decision back, like one served by pods.
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-switchyard-explain': '1' }, body: JSON.stringify({ model: 'gpt', messages: [] }),
    });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(String(res.headers['x-switchyard-explain'])), { decision: 'routed', route: 'default/gpt', rule: 'default', target: 'default/openai', pod: null });
    const wrongPath = await request(`${url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-switchyard-explain': '1' }, body: JSON.stringify({ model: 'claude', messages: [] }),
    });
    await wrongPath.body.dump();
    assert.equal(wrongPath.statusCode, 400);
    assert.equal((JSON.parse(String(wrongPath.headers['x-switchyard-explain'])) as { error?: string }).error, 'provider_path_unsupported');
  });

  it('splits one weighted rule between a provider and a pod, each labelled with its backend in the metrics', async () => {
    const before = await scrape(env.router!.metricsUrl!);
    const seen = { provider: 0, pod: 0 };
    for (let i = 0; i < 10; i++) {
      const answer = await openai.chat.completions.create({ model: 'hybrid', messages: [{ role: 'user', content: 'hi' }] });
      if (answer.model === 'gpt-upstream') seen.provider++;
      else if (answer.model === 'local-model') seen.pod++;
    }
    assert.deepEqual(seen, { provider: 5, pod: 5 });
    const now = await scrape(env.router!.metricsUrl!);
    const requests = (labels: Record<string, string>): number =>
      total(now, 'switchyard_requests_total', { model: 'hybrid', status_code: '200', ...labels }) - total(before, 'switchyard_requests_total', { model: 'hybrid', status_code: '200', ...labels });
    assert.equal(requests({ backend_type: 'external_provider', backend_name: 'default/openai', upstream_model: 'gpt-upstream' }), 5);
    assert.equal(requests({ backend_type: 'model_server', backend_name: 'default/local', upstream_model: 'local-model' }), 5);
  });

  describe('failures', () => {
    it('passes a provider\'s 4xx through as it is', async () => {
      openaiProvider.script.push((_req, res) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"bad temperature","type":"invalid_request_error","code":null}}');
      });
      const res = await post('/v1/chat/completions', { model: 'gpt', messages: [] });
      assert.equal(res.statusCode, 400);
      assert.equal(((await res.body.json()) as { error: { message: string } }).error.message, 'bad temperature');
    });

    it('retries a 429 whose Retry-After fits the deadline, and passes one that does not', async () => {
      const count = records.length;
      openaiProvider.script.push((_req, res) => {
        res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' });
        res.end('{"error":{"message":"slow down"}}');
      });
      const ok = await post('/v1/chat/completions', { model: 'gpt', messages: [] });
      assert.equal(ok.statusCode, 200);
      await ok.body.dump();
      assert.equal((await lastRecord(count)).outcome?.attempts, 2);
      openaiProvider.script.push((_req, res) => {
        res.writeHead(429, { 'retry-after': '3600', 'content-type': 'application/json' });
        res.end('{"error":{"message":"come back in an hour"}}');
      });
      const refused = await post('/v1/chat/completions', { model: 'gpt', messages: [] });
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.headers['retry-after'], '3600');
      assert.equal(((await refused.body.json()) as { error: { message: string } }).error.message, 'come back in an hour');
    });

    it("a rate-limited route's x-ratelimit-* headers are the router's, not the provider's of the same name", async () => {
      openaiProvider.script.push((_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/json', 'x-ratelimit-limit-tokens': '999999', 'x-ratelimit-remaining-tokens': '999990',
          'x-ratelimit-reset-tokens': '6ms', 'x-ratelimit-limit-requests': '5000',
        });
        res.end('{"id":"x","object":"chat.completion","created":1,"model":"gpt-upstream","choices":[]}');
      });
      const res = await post('/v1/chat/completions', { model: 'limited', messages: [{ role: 'user', content: 'hello' }] });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-ratelimit-limit-tokens'], '1000', "the route's bucket (README: Rate limits)");
      assert.ok(Number(res.headers['x-ratelimit-remaining-tokens']) <= 1000, String(res.headers['x-ratelimit-remaining-tokens']));
      assert.notEqual(res.headers['x-ratelimit-reset-tokens'], '6ms');
      assert.equal(res.headers['x-ratelimit-limit-requests'], '5000', "the provider's other headers pass");
    });

    it("withholds the provider's site and account headers (cookies, HSTS, Alt-Svc, organization) and passes the rest", async () => {
      openaiProvider.script.push((_req, res) => {
        res.writeHead(200, [
          'content-type', 'application/json', 'set-cookie', '__cf_bm=abc; path=/; domain=.api.openai.com', 'alt-svc', 'h3=":443"; ma=86400',
          'strict-transport-security', 'max-age=31536000', 'openai-organization', 'org-router-account', 'openai-project', 'proj_router',
          'openai-processing-ms', '42', 'x-request-id', 'req_provider',
        ]);
        res.end('{"id":"x","object":"chat.completion","created":1,"model":"gpt-upstream","choices":[]}');
      });
      const res = await post('/v1/chat/completions', { model: 'gpt', messages: [{ role: 'user', content: 'hello' }] });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      for (const name of ['set-cookie', 'alt-svc', 'strict-transport-security', 'openai-organization', 'openai-project']) {
        assert.equal(res.headers[name], undefined, `${name} is the provider's, not the client's`);
      }
      assert.equal(res.headers['openai-processing-ms'], '42', "the provider's other headers pass");
      assert.notEqual(res.headers['x-request-id'], 'req_provider', "the router's request id");
    });

    it('times out waiting for response headers: 504', async () => {
      openaiProvider.script.push(() => undefined); // never answers
      const res = await post('/v1/chat/completions', { model: 'slow', messages: [] });
      assert.equal(res.statusCode, 504);
      assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'upstream_timeout');
    });

    it('waits a fractional Retry-After before retrying (V8 read "1.5" as a date in 2001: retried at once)', async () => {
      const count = records.length;
      const seenAt: number[] = [];
      openaiProvider.script.push((_req, res) => {
        seenAt.push(performance.now());
        res.writeHead(429, { 'retry-after': '1.5', 'content-type': 'application/json' });
        res.end('{"error":{"message":"slow down"}}');
      });
      openaiProvider.script.push((_req, res) => {
        seenAt.push(performance.now());
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"x","object":"chat.completion","created":1,"model":"gpt-upstream","choices":[]}');
      });
      const res = await post('/v1/chat/completions', { model: 'gpt', messages: [] });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      assert.equal((await lastRecord(count)).outcome?.attempts, 2);
      assert.ok(seenAt[1] - seenAt[0] >= 1400, `retried after ${Math.round(seenAt[1] - seenAt[0])} ms`);
    });

    it('a retry after Retry-After waits for headers only until the deadline counted from the first attempt', async () => {
      const count = records.length;
      openaiProvider.script.push((_req, res) => {
        res.writeHead(429, { 'retry-after': '2', 'content-type': 'application/json' });
        res.end('{"error":{"message":"slow down"}}');
      });
      openaiProvider.script.push(() => undefined); // the retry never answers
      const started = performance.now();
      const res = await post('/v1/chat/completions', { model: 'deadline', messages: [] });
      const waited = performance.now() - started;
      assert.equal(res.statusCode, 504);
      const { error } = (await res.body.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'upstream_timeout');
      assert.match(error.message, /external provider default\/deadline sent no response headers within 3000 ms/);
      assert.equal((await lastRecord(count)).outcome?.attempts, 2);
      // A retry with a whole response timeout of its own keeps the client at least 2 s + 3 s.
      assert.ok(waited < 5000, `the client waited ${Math.round(waited)} ms for a 3 s response timeout`);
    });

    it('a provider that cannot be reached: 502', async () => {
      const res = await post('/v1/chat/completions', { model: 'gone', messages: [] });
      assert.equal(res.statusCode, 502);
      const { error } = (await res.body.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'upstream_unavailable');
      assert.match(error.message, /external provider default\/gone/);
    });

    it('verifies the provider\'s certificate unless insecureSkipVerify', async () => {
      const verified = await post('/v1/chat/completions', { model: 'strange-verified', messages: [{ role: 'user', content: 'x' }] });
      assert.equal(verified.statusCode, 502);
      await verified.body.dump();
      const insecure = await post('/v1/chat/completions', { model: 'strange-insecure', messages: [{ role: 'user', content: 'x' }] });
      assert.equal(insecure.statusCode, 200);
      await insecure.body.dump();
      assert.equal(strangeProvider.requests.length, 1, 'the unverified request never reached the provider');
    });

    it("passes on a provider's error event in a 200 stream as sent, and records the request as failed", async () => {
      const count = records.length;
      anthropicProvider.script.push((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":9,"output_tokens":1}}}\n\n');
        res.end('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n');
      });
      const res = await post('/v1/messages', { model: 'claude', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], stream: true });
      assert.equal(res.statusCode, 200);
      const text = await res.body.text();
      assert.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error","message":"Overloaded"\}\}/, 'as the provider sent it');
      assert.equal(text.match(/event: error/g)?.length, 1, 'and no second error event of the router');
      const record = await lastRecord(count);
      assert.equal(record.status, 200);
      assert.equal(record.error?.code, 'upstream_stream_error');
      assert.match(record.error?.message ?? '', /Overloaded/);
    });

    it('ends a stream the provider breaks with one SSE error event', async () => {
      openaiProvider.script.push((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n');
        setTimeout(() => res.destroy(), 20);
      });
      const res = await post('/v1/chat/completions', { model: 'gpt', messages: [], stream: true });
      assert.equal(res.statusCode, 200);
      const events = sseData(await res.body.text());
      assert.equal(events.length, 2);
      assert.equal((JSON.parse(events[1]) as { error: { code: string } }).error.code, 'upstream_stream_error');
    });
  });
});
