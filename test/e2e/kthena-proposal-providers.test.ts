// The ExternalModelProvider examples of Kthena's proposal (docs/proposal/kthena-router-third-party-model-api.md),
// written again in the same shape (block-style YAML, `type: Opaque` Secrets, auth without a scheme, a static
// anthropic-version header, a rule fragment wrapped in a route), loaded from files by the router and called with the
// official clients. Each one is held to the meaning the proposal gives it: the provider that is reached, the path
// under baseURL, the credential's scheme by provider type, the model override (or the request's model kept without
// one), the 80/20 split between a pod and a provider, and the LoRA adapters kept in the cluster.
import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { createEnv, mockStats, startMock, startRouter, waitFor, type MockStats, type TestEnv } from '../support/harness.ts';
import { startFakeProvider, type FakeProvider } from '../support/fake-providers.ts';
import { createTestCa } from '../support/tls.ts';

const DEEPSEEK_KEY = 'sk-deepseek-test';
const ANTHROPIC_KEY = 'sk-ant-test';
const OPENAI_KEY = 'sk-openai-test';
const DRAFT_KEY = 'sk-draft-test';
const LOCAL_MODEL = 'Qwen/Qwen2.5-0.5B-Instruct';

const modelOf = (stats: MockStats): unknown => (stats.lastRequest?.body as { model?: unknown } | undefined)?.model;

/** The proposal's first two examples: a Secret, a provider reading it, a route to the provider. */
function deepSeekExample(baseURL: string): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: deepseek-api-key
  namespace: default
  labels:
    networking.serving.volcano.sh/external-model-provider-credential: "true"
type: Opaque
stringData:
  apiKey: "${DEEPSEEK_KEY}"
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata:
  name: deepseek-provider
  namespace: default
spec:
  providerType: OpenAI
  model: deepseek-chat
  baseURL: ${baseURL}
  auth:
    secretRef:
      name: deepseek-api-key
      key: apiKey
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: deepseek-route
  namespace: default
spec:
  modelName: deepseek
  rules:
  - name: default
    targetModels:
    - externalModelProviderName: deepseek-provider
`;
}

function anthropicExample(baseURL: string): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: anthropic-api-key
  namespace: default
  labels:
    networking.serving.volcano.sh/external-model-provider-credential: "true"
type: Opaque
stringData:
  apiKey: "${ANTHROPIC_KEY}"
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata:
  name: anthropic-provider
  namespace: default
spec:
  providerType: Anthropic
  model: "claude-upstream-model"
  baseURL: ${baseURL}
  auth:
    secretRef:
      name: anthropic-api-key
      key: apiKey
  headers:
    anthropic-version: "2023-06-01"
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: anthropic-route
  namespace: default
spec:
  modelName: claude
  rules:
  - name: default
    targetModels:
    - externalModelProviderName: anthropic-provider
`;
}

/** The proposal's "hybrid split" rule fragment, in a route of its own, with the provider and pods it names. */
function hybridExample(openaiBaseURL: string, localPort: number): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: openai-api-key
  namespace: default
  labels:
    networking.serving.volcano.sh/external-model-provider-credential: "true"
type: Opaque
data:
  apiKey: ${Buffer.from(OPENAI_KEY).toString('base64')}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata:
  name: openai-provider
  namespace: default
spec:
  model: gpt-4o-mini
  baseURL: ${openaiBaseURL}
  auth:
    secretRef:
      name: openai-api-key
      key: apiKey
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata:
  name: qwen-local
  namespace: default
spec:
  model: ${LOCAL_MODEL}
  inferenceEngine: vLLM
  workloadSelector:
    matchLabels:
      app: qwen-local
  workloadPort:
    port: 8000
---
apiVersion: v1
kind: Pod
metadata:
  name: qwen-local-0
  namespace: default
  labels:
    app: qwen-local
  annotations:
    switchyard.dev/port: "${localPort}"
status:
  podIP: 127.0.0.1
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: qwen-hybrid
  namespace: default
spec:
  modelName: qwen-hybrid
  rules:
  - name: default
    targetModels:
    - modelServerName: qwen-local
      weight: 80
    - externalModelProviderName: openai-provider
      weight: 20
`;
}

/** The proposal's last example: the base model on a provider (no spec.model), its LoRA adapters in the cluster. */
function loraSplitExample(qwenBaseURL: string, loraPort: number): string {
  return `apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata:
  name: qwen-provider
  namespace: default
spec:
  providerType: OpenAI
  baseURL: ${qwenBaseURL}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata:
  name: qwen-lora-server
  namespace: default
spec:
  inferenceEngine: vLLM
  workloadSelector:
    matchLabels:
      app: qwen-lora
  workloadPort:
    port: 8000
---
apiVersion: v1
kind: Pod
metadata:
  name: qwen-lora-0
  namespace: default
  labels:
    app: qwen-lora
  annotations:
    switchyard.dev/port: "${loraPort}"
status:
  podIP: 127.0.0.1
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: qwen-external
  namespace: default
spec:
  modelName: qwen
  rules:
  - name: external
    targetModels:
    - externalModelProviderName: qwen-provider
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: qwen-lora
  namespace: default
spec:
  loraAdapters:
  - qwen-lora-a
  - qwen-lora-b
  rules:
  - name: lora
    targetModels:
    - modelServerName: qwen-lora-server
`;
}

/**
 * The shape of the proposal's June drafts (before externalModelProviderName and spec.model): externalProviderRef
 * with a model per target, providerType OpenAICompatible, auth.header/scheme, trafficPolicy.timeout. The draft's
 * Secret had no credential label; the released behaviour (label required) wins, so this one has it.
 */
function draftExample(baseURL: string): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: draft-api-key
  namespace: default
  labels:
    networking.serving.volcano.sh/external-model-provider-credential: "true"
type: Opaque
stringData:
  apiKey: "${DRAFT_KEY}"
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata:
  name: draft-provider
  namespace: default
spec:
  providerType: OpenAICompatible
  baseURL: ${baseURL}
  auth:
    secretRef:
      name: draft-api-key
      key: apiKey
    header: Authorization
    scheme: Bearer
  trafficPolicy:
    timeout: 300ms
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: draft-route
  namespace: default
spec:
  modelName: draft-deepseek
  rules:
  - name: default
    targetModels:
    - externalProviderRef:
        name: draft-provider
        model: deepseek-chat
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: draft-hybrid
  namespace: default
spec:
  modelName: draft-hybrid
  rules:
  - name: default
    targetModels:
    - modelServerName: qwen-local
      weight: 80
    - externalProviderRef:
        name: draft-provider
        model: gpt-4o-mini
      weight: 20
`;
}

describe("Kthena's proposal examples", () => {
  let env: TestEnv;
  let deepseek: FakeProvider;
  let anthropicApi: FakeProvider;
  let openaiApi: FakeProvider;
  let qwenApi: FakeProvider;
  let draftApi: FakeProvider;
  let local: MockEngineHandle;
  let lora: MockEngineHandle;
  let openai: OpenAI;
  let anthropic: Anthropic;

  before(async () => {
    env = await createEnv();
    const ca = createTestCa();
    const caFile = join(env.dir, 'ca.pem.txt');
    await writeFile(caFile, ca.cert);
    anthropicApi = await startFakeProvider('Anthropic', ca.issue());
    [deepseek, openaiApi, qwenApi, draftApi] = await Promise.all([1, 2, 3, 4].map(() => startFakeProvider('OpenAI', ca.issue())));
    local = await startMock(env, { model: LOCAL_MODEL });
    lora = await startMock(env, { model: 'Qwen/Qwen2.5-7B', loraAdapters: ['qwen-lora-a', 'qwen-lora-b'] });
    // One file per example, as a user would apply them; baseURLs without a path, as the proposal's.
    await writeFile(join(env.dir, 'deepseek.yaml'), deepSeekExample(deepseek.url));
    await writeFile(join(env.dir, 'anthropic.yaml'), anthropicExample(anthropicApi.url));
    await writeFile(join(env.dir, 'hybrid.yaml'), hybridExample(`${openaiApi.url}/v1`, local.port));
    await writeFile(join(env.dir, 'lora-split.yaml'), loraSplitExample(`${qwenApi.url}/v1`, lora.port));
    await writeFile(join(env.dir, 'draft.yaml'), draftExample(`${draftApi.url}/v1`));
    const router = await startRouter(env, { upstreamCaFile: caFile });
    openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: router.url, apiKey: 'client-anthropic-key', maxRetries: 0 });
  });
  after(async () => {
    await env.cleanup();
    await Promise.all([deepseek.close(), anthropicApi.close(), openaiApi.close(), qwenApi.close(), draftApi.close()]);
  });

  it('DeepSeek: the OpenAI adapter with a Bearer credential, spec.model replacing the virtual model', async () => {
    const answer = await openai.chat.completions.create({ model: 'deepseek', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(answer.choices[0].message.content, 'Hello from the provider');
    const seen = deepseek.requests.at(-1)!;
    // baseURL has no path: the request path is kept whole, as Kthena's router joins it.
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.headers.authorization, `Bearer ${DEEPSEEK_KEY}`, 'OpenAI defaults to Bearer');
    assert.equal(seen.headers['x-api-key'], undefined);
    assert.equal(seen.body.model, 'deepseek-chat');

    const stream = await openai.chat.completions.create({ model: 'deepseek', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'Hello from the provider');
    assert.equal(deepseek.requests.at(-1)!.body.model, 'deepseek-chat');
  });

  it('Anthropic: the Messages adapter with an x-api-key credential and the static anthropic-version, sent once', async () => {
    const message = await anthropic.messages.create({ model: 'claude', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(message.content.map((block) => (block.type === 'text' ? block.text : '')), ['Hello from the provider']);
    const seen = anthropicApi.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.headers['x-api-key'], ANTHROPIC_KEY, 'Anthropic defaults to APIKey');
    assert.equal(seen.headers.authorization, undefined);
    // The client sends its own anthropic-version too: spec.headers replaces it rather than doubling it.
    assert.equal(seen.headers['anthropic-version'], '2023-06-01');
    assert.equal(seen.body.model, 'claude-upstream-model');

    const stream = await anthropic.messages.create({ model: 'claude', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    assert.equal(text, 'Hello from the provider');
    assert.equal(anthropicApi.requests.at(-1)!.headers['anthropic-version'], '2023-06-01');
  });

  it('Anthropic: an OpenAI path to an Anthropic provider is refused, not translated', async () => {
    const before = anthropicApi.requests.length;
    await assert.rejects(openai.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 400);
      assert.equal(error.code, 'provider_path_unsupported');
      return true;
    });
    assert.equal(anthropicApi.requests.length, before, 'nothing reached the provider');
  });

  it('hybrid split: 80/20 between the in-cluster ModelServer and the provider, each with its own model', async () => {
    const providerBefore = openaiApi.requests.length;
    const localBefore = (await mockStats(local)).received;
    for (let i = 0; i < 10; i++) {
      const answer = await openai.chat.completions.create({ model: 'qwen-hybrid', messages: [{ role: 'user', content: `turn ${i}` }] });
      assert.ok(answer.choices[0].message.content);
    }
    assert.equal(openaiApi.requests.length - providerBefore, 2, 'weight 20 of 100: 2 of 10 requests');
    assert.equal((await mockStats(local)).received - localBefore, 8, 'weight 80 of 100: 8 of 10 requests');
    const seen = openaiApi.requests.at(-1)!;
    assert.equal(seen.path, '/v1/chat/completions', 'baseURL .../v1 with the request /v1 dropped');
    assert.equal(seen.headers.authorization, `Bearer ${OPENAI_KEY}`);
    assert.equal(seen.body.model, 'gpt-4o-mini', 'providerType defaults to OpenAI; spec.model replaces the model');
    assert.equal(modelOf(await mockStats(local)), LOCAL_MODEL);
  });

  it('LoRA split: the base model goes to the provider with its own name, the adapters to the pods', async () => {
    const answer = await openai.chat.completions.create({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(answer.choices[0].message.content, 'Hello from the provider');
    const seen = qwenApi.requests.at(-1)!;
    assert.equal(seen.body.model, 'qwen', 'no spec.model: the request model is forwarded unchanged');
    assert.equal(seen.headers.authorization, undefined, 'no auth: no credential header');

    const providerBefore = qwenApi.requests.length;
    for (const adapter of ['qwen-lora-a', 'qwen-lora-b']) {
      const completion = await openai.completions.create({ model: adapter, prompt: 'hi', max_tokens: 4 });
      assert.equal(completion.model, adapter);
      assert.equal(modelOf(await mockStats(lora)), adapter);
    }
    assert.equal(qwenApi.requests.length, providerBefore, 'adapters never reach the provider');
  });

  describe('the shape of the June drafts, read as the released one', () => {
    it('externalProviderRef: the named provider with the model of this target; the draft auth sends Bearer', async () => {
      const answer = await openai.chat.completions.create({ model: 'draft-deepseek', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(answer.choices[0].message.content, 'Hello from the provider');
      const seen = draftApi.requests.at(-1)!;
      assert.equal(seen.path, '/v1/chat/completions', 'OpenAICompatible is the OpenAI adapter');
      assert.equal(seen.headers.authorization, `Bearer ${DRAFT_KEY}`);
      assert.equal(seen.body.model, 'deepseek-chat');
    });

    it('one provider under two targets, each with its own model; the 80/20 split holds', async () => {
      const providerBefore = draftApi.requests.length;
      const localBefore = (await mockStats(local)).received;
      for (let i = 0; i < 10; i++) await openai.chat.completions.create({ model: 'draft-hybrid', messages: [{ role: 'user', content: `turn ${i}` }] });
      const reached = draftApi.requests.slice(providerBefore);
      assert.equal(reached.length, 2);
      assert.deepEqual(reached.map((request) => request.body.model), ['gpt-4o-mini', 'gpt-4o-mini']);
      assert.equal((await mockStats(local)).received - localBefore, 8);
    });

    it('a reload that changes only a target\'s model takes effect at once', async () => {
      await writeFile(join(env.dir, 'draft.yaml'), draftExample(`${draftApi.url}/v1`).replace('model: deepseek-chat', 'model: deepseek-reasoner'));
      await waitFor(async () => {
        await openai.chat.completions.create({ model: 'draft-deepseek', messages: [{ role: 'user', content: 'hi' }] });
        return draftApi.requests.at(-1)!.body.model === 'deepseek-reasoner';
      }, 5000, 'the reloaded model');
    });

    it('trafficPolicy.timeout bounds the wait for the provider\'s answer: 504', async () => {
      draftApi.script.push(() => undefined); // never answers
      await assert.rejects(openai.chat.completions.create({ model: 'draft-deepseek', messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError);
        assert.equal(error.status, 504);
        assert.equal(error.code, 'upstream_timeout');
        return true;
      });
    });
  });
});
