// Token rate limits (ModelRoute spec.rateLimit) with local buckets: Kthena's ModelRouteWithRateLimit.yaml semantics,
// the x-ratelimit-* headers, 429 with Retry-After, output tokens from non-streaming and streaming answers, LoRA
// routes, two routes of one model sharing their bucket, and a reload that removes the limit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { scrape, total } from '../support/metrics.ts';
import { client, createEnv, mockStats, modelServer, podStub, post, startMock, startRouter, waitFor, writeYaml, type RawResponse, type TestEnv } from '../support/harness.ts';

/** Kthena's examples/kthena-router/ModelRouteWithRateLimit.yaml, as a test fixture of ours. */
const KTHENA_RATE_LIMIT_ROUTE = `
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: deepseek-rate-limit
  namespace: default
spec:
  modelName: "deepseek-r1-with-rate-limit"
  rules:
    - name: "default"
      targetModels:
        - modelServerName: "deepseek-r1-1-5b"
  rateLimit:
    inputTokensPerUnit: 30
    outputTokensPerUnit: 100
    unit: minute`;

function route(name: string, spec: string[]): string {
  return ['apiVersion: networking.serving.volcano.sh/v1alpha1', 'kind: ModelRoute', 'metadata:', `  name: ${name}`, '  namespace: default', 'spec:', ...spec.map((l) => `  ${l}`)].join('\n');
}

const toServer = ['rules:', '- name: default', '  targetModels:', '  - modelServerName: "deepseek-r1-1-5b"'];

/** "hello world" as one chat message: Kthena's estimate of its ChatML rendering is 10 tokens (39 runes / 4). */
const HELLO = [{ role: 'user' as const, content: 'hello world' }];

function routes(withSharedLimit = true): string[] {
  return [
    modelServer('deepseek-r1-1-5b', { app: 'ds', model: 'deepseek-r1' }),
    KTHENA_RATE_LIMIT_ROUTE,
    route('output-limited', ['modelName: "output-limited"', ...toServer, 'rateLimit: {outputTokensPerUnit: 20, unit: hour}']),
    route('output-limited-stream', ['modelName: "output-limited-stream"', ...toServer, 'rateLimit: {outputTokensPerUnit: 20, unit: hour}']),
    route('lora', ['loraAdapters: ["lora-a", "lora-b"]', ...toServer, 'rateLimit: {inputTokensPerUnit: 10, unit: hour}']),
    // Two routes of one model: the premium rule's route first (older), the other for everyone else.
    route('shared-premium', [
      'modelName: "shared"', 'rules:', '- name: premium', '  modelMatch: {headers: {x-tier: {exact: premium}}}', '  targetModels:', '  - modelServerName: "deepseek-r1-1-5b"',
      ...(withSharedLimit ? ['rateLimit: {inputTokensPerUnit: 20, unit: hour}'] : []),
    ]).replace('  namespace: default', '  namespace: default\n  creationTimestamp: "2024-01-01T00:00:00Z"'),
    route('shared-rest', ['modelName: "shared"', ...toServer, ...(withSharedLimit ? ['rateLimit: {inputTokensPerUnit: 20, unit: hour}'] : [])])
      .replace('  namespace: default', '  namespace: default\n  creationTimestamp: "2024-01-02T00:00:00Z"'),
    route('unlimited', ['modelName: "unlimited"', ...toServer]),
    route('counted', ['modelName: "counted"', ...toServer, 'rateLimit: {inputTokensPerUnit: 10, unit: hour}']),
    route('long-prompts', ['modelName: "long-prompts"', ...toServer, 'rateLimit: {inputTokensPerUnit: 30, outputTokensPerUnit: 100, unit: minute}']),
    route('both-limits', ['modelName: "both-limits"', ...toServer, 'rateLimit: {inputTokensPerUnit: 1000, outputTokensPerUnit: 10, unit: hour}']),
    modelServer('slow-server', { app: 'slow', model: 'slow-model' }),
    route('output-limited-cut', ['modelName: "output-limited-cut"', 'rules:', '- name: default', '  targetModels:', '  - modelServerName: "slow-server"', 'rateLimit: {outputTokensPerUnit: 20, unit: hour}']),
  ];
}

const chat = (router: RouterApp, model: string, headers: Record<string, string> = {}, extra: object = {}): Promise<RawResponse> =>
  post(`${router.url}/v1/chat/completions`, { model, messages: HELLO, ...extra }, headers);

describe('token rate limits, local buckets', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mock: MockEngineHandle;
  let slow: MockEngineHandle;

  before(async () => {
    env = await createEnv();
    mock = await startMock(env, { model: 'deepseek-r1', mode: 'random', loraAdapters: ['lora-a', 'lora-b'] });
    slow = await startMock(env, { model: 'slow-model', mode: 'random', itlMs: 10, maxTokens: 500, instanceName: 'slow' });
    await writeYaml(env, 'pods.yaml', [podStub('ds-0', 'ds', mock.port), podStub('slow-0', 'slow', slow.port)]);
    await writeYaml(env, 'routes.yaml', routes());
    router = await startRouter(env, { exposeMetricsOnRouterPort: true });
  });
  after(() => env.cleanup());

  it("Kthena's ModelRouteWithRateLimit.yaml: 30 input tokens a minute pass three 10-token chats, then 429", async () => {
    const openai = client(router);
    const statuses: number[] = [];
    let refusal: unknown = null;
    for (let i = 0; i < 6; i++) {
      try {
        const { response } = await openai.chat.completions.create({ model: 'deepseek-r1-with-rate-limit', messages: HELLO, max_tokens: 5 }).withResponse();
        statuses.push(response.status);
        assert.equal(response.headers.get('x-ratelimit-limit-tokens'), '30');
        const remaining = Number(response.headers.get('x-ratelimit-remaining-tokens'));
        assert.ok(remaining >= 20 - 10 * i && remaining < 30 - 10 * i, `remaining ${remaining} after request ${i + 1}`);
        assert.match(response.headers.get('x-ratelimit-reset-tokens') ?? '', /^\d+(\.\d+)?(ms|s)$|m/);
      } catch (err) {
        assert.ok(err instanceof OpenAI.RateLimitError, `request ${i + 1}: ${String(err)}`);
        statuses.push(err.status);
        refusal ??= err;
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
    const err = refusal as InstanceType<typeof OpenAI.RateLimitError>;
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.equal(err.type, 'tokens');
    assert.match(err.message.toLowerCase(), /rate limit/);
    const retryAfter = Number(err.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(err.headers.get('x-ratelimit-limit-tokens'), '30');
    assert.equal(err.headers.get('x-ratelimit-remaining-tokens'), '0');

    const families = await scrape(router.url);
    assert.equal(total(families, 'switchyard_rate_limit_exceeded_total', { model: 'deepseek-r1-with-rate-limit', limit_type: 'input_tokens', path: '/v1/chat/completions' }), 3);
    const refused = total(families, 'switchyard_requests_total', { model: 'deepseek-r1-with-rate-limit', status_code: '429', error_type: 'rate_limit' });
    assert.equal(refused, 3);
  });

  it('six 136-character prompts on a 30-token budget: the first passes on the full bucket (Kthena: never), the rest get 429', async () => {
    const prompt = 'Explain in detail how a token bucket rate limiter works, and why its burst size matters for large language model inference traffic...!!!';
    assert.equal(prompt.length, 136); // 34 tokens by Kthena's estimate: more than the whole budget
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await post(`${router.url}/v1/completions`, { model: 'long-prompts', prompt, max_tokens: 3 })).status);
    }
    assert.deepEqual(statuses, [200, 429, 429, 429, 429, 429]);
  });

  it('charges the output tokens of a non-streaming answer: the next request is refused on output tokens', async () => {
    const first = await chat(router, 'output-limited', {}, { max_tokens: 25 });
    assert.equal(first.status, 200, first.text);
    assert.equal((first.json() as { usage: { completion_tokens: number } }).usage.completion_tokens, 25);
    assert.equal(first.headers['x-ratelimit-limit-tokens'], '20');
    const second = await chat(router, 'output-limited', {}, { max_tokens: 1 });
    assert.equal(second.status, 429, second.text);
    assert.match(second.text, /output tokens/);
    assert.equal(second.headers['x-ratelimit-remaining-tokens'], '0');
  });

  it('charges the output tokens of a streamed answer (usage asked for and hidden from the client)', async () => {
    const first = await chat(router, 'output-limited-stream', {}, { max_tokens: 25, stream: true });
    assert.equal(first.status, 200, first.text);
    assert.match(first.text, /data: \[DONE\]/);
    assert.doesNotMatch(first.text, /"usage":\{/, 'the usage chunk the router asked for stays hidden');
    const second = await chat(router, 'output-limited-stream', {}, { max_tokens: 1, stream: true });
    assert.equal(second.status, 429, second.text);
    // Below the limit nothing is refused: a stream of 5 tokens on a fresh budget passes (control).
    const control = await chat(router, 'unlimited', {}, { max_tokens: 25, stream: true });
    assert.equal(control.status, 200);
    assert.equal(control.headers['x-ratelimit-limit-tokens'], undefined, 'unlimited routes carry no rate-limit headers');
  });

  it('charges what a stream delivered when its client hangs up before the end', async () => {
    const abort = new AbortController();
    const res = await fetch(`${router.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'output-limited-cut', messages: HELLO, max_tokens: 400, stream: true }),
      signal: abort.signal,
    });
    assert.equal(res.status, 200);
    // Read about 30 token events, then leave (no usage event ever comes: the stream is cut before its end).
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/^data: /gm)?.length ?? 0) < 30) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    abort.abort();
    await reader.cancel().catch(() => undefined);
    // Once the router has cancelled the upstream request, the cut stream (over the 20-token budget) has been charged:
    // the very next request is refused on output tokens.
    await waitFor(async () => (await mockStats(slow)).inFlight === 0, 5000, 'the upstream request cancelled');
    const refused = await chat(router, 'output-limited-cut', {}, { max_tokens: 1 });
    assert.equal(refused.status, 429, refused.text);
    assert.match(refused.text, /output tokens/);
  });

  it('counting tokens (/v1/messages/count_tokens) spends none of the budget; a Messages request does', async () => {
    const count = (): Promise<RawResponse> => post(`${router.url}/v1/messages/count_tokens`, { model: 'counted', messages: HELLO });
    for (let i = 0; i < 4; i++) {
      const res = await count();
      assert.equal(res.status, 200, `count ${i + 1}: ${res.text}`);
    }
    const messages = (): Promise<RawResponse> => post(`${router.url}/v1/messages`, { model: 'counted', max_tokens: 3, messages: HELLO });
    assert.equal((await messages()).status, 200, 'the whole budget is still there');
    assert.equal((await messages()).status, 429);
  });

  it("names the refusing bucket's numbers in the message when both limits are set", async () => {
    const first = await chat(router, 'both-limits', {}, { max_tokens: 25 });
    assert.equal(first.status, 200, first.text);
    const refused = await chat(router, 'both-limits', {}, { max_tokens: 1 });
    assert.equal(refused.status, 429, refused.text);
    assert.match((refused.json() as { error: { message: string } }).error.message, /on output tokens per hour: limit 10, remaining 0\./);
    // The headers describe the input bucket, the budget a request spends up front.
    assert.equal(refused.headers['x-ratelimit-limit-tokens'], '1000');
  });

  it('limits LoRA routes, one bucket per adapter', async () => {
    assert.equal((await chat(router, 'lora-a')).status, 200);
    const refused = await chat(router, 'lora-a');
    assert.equal(refused.status, 429, refused.text);
    assert.equal((await chat(router, 'lora-b')).status, 200, 'another adapter has its own budget');
  });

  it('two routes of one model in one namespace share one bucket; a reload removing the limit lifts it', async () => {
    assert.equal((await chat(router, 'shared', { 'x-tier': 'premium' })).status, 200);
    assert.equal((await chat(router, 'shared')).status, 200);
    assert.equal((await chat(router, 'shared', { 'x-tier': 'premium' })).status, 429, 'the premium route spent the shared budget too');
    assert.equal((await chat(router, 'shared')).status, 429);

    const generation = router.store.snapshot!.generation;
    await writeYaml(env, 'routes.yaml', routes(false));
    await waitFor(() => router.store.snapshot!.generation > generation, 5000, 'the reload');
    const lifted = await chat(router, 'shared');
    assert.equal(lifted.status, 200, lifted.text);
    assert.equal(lifted.headers['x-ratelimit-limit-tokens'], undefined);
    // The other limits are still there (their buckets kept their level across the reload).
    assert.equal((await chat(router, 'lora-a')).status, 429);
  });
});
