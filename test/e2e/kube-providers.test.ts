// ExternalModelProviders in Kubernetes mode against a real API server: the provider and its credential Secret are
// applied with kubectl, the router (reading through deploy/'s RBAC, which grants Secrets only list/watch) routes to a
// fake OpenAI-compatible provider over HTTPS with the Secret's credential; rotating the Secret changes the credential
// sent; a Secret that loses Kthena's credential label (or never had it) leaves the provider not ready (503
// provider_not_ready), and the status conditions in the config dump follow every step.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import pino from 'pino';
import { startRouterApp, type RouterApp } from '../../src/cli/router-app.ts';
import { startFakeProvider, type FakeProvider } from '../support/fake-providers.ts';
import { get, post, waitFor } from '../support/harness.ts';
import { KubeCluster, envtestBinaries } from '../support/kube-cluster.ts';
import { createTestCa } from '../support/tls.ts';

const binaries = envtestBinaries();
const LABEL = 'networking.serving.volcano.sh/external-model-provider-credential';

function secretYaml(name: string, token: string, labelled: boolean): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default', labels: labelled ? { [LABEL]: 'true' } : { other: 'x' } },
    data: { token: Buffer.from(`${token}\n`).toString('base64') },
  });
}

function providerYaml(name: string, baseURL: string, secret: string): string {
  return JSON.stringify({
    apiVersion: 'networking.serving.volcano.sh/v1alpha1',
    kind: 'ExternalModelProvider',
    metadata: { name, namespace: 'default' },
    spec: { providerType: 'OpenAI', baseURL, model: 'gpt-upstream', auth: { secretRef: { name: secret, key: 'token' } } },
  });
}

function providerRouteYaml(model: string, provider: string): string {
  return JSON.stringify({
    apiVersion: 'networking.serving.volcano.sh/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: model, namespace: 'default' },
    spec: { modelName: model, rules: [{ targetModels: [{ externalModelProviderName: provider }] }] },
  });
}

describe('external providers and credential Secrets in Kubernetes mode', { skip: 'skip' in binaries ? binaries.skip : false }, () => {
  let cluster: KubeCluster;
  let router: RouterApp;
  let fake: FakeProvider;
  let openai: OpenAI;

  /** The provider's conditions in the config dump, as "Type=Status/Reason". */
  async function conditions(name: string): Promise<string[] | undefined> {
    const dump = await get(`${router.debugUrl!}/debug/config_dump/externalmodelproviders`);
    const providers = (dump.json() as { externalmodelproviders: { name: string; status: { conditions: { type: string; status: string; reason: string }[] } }[] }).externalmodelproviders;
    return providers.find((p) => p.name === name)?.status.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
  }

  async function waitForReady(name: string, ready: boolean, what: string): Promise<void> {
    let last: string[] | undefined;
    for (let i = 0; i < 100; i++) {
      last = await conditions(name);
      if (last?.includes(ready ? 'Ready=True/Ready' : 'Ready=False/CredentialNotFound') === true) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail(`${what}: conditions of ${name} are ${JSON.stringify(last)}`);
  }

  before(async () => {
    cluster = await KubeCluster.start((binaries as { dir: string }).dir);
    cluster.kubectl(['apply', '-f', 'deploy/crds/', '-f', 'deploy/namespace.yaml', '-f', 'deploy/rbac.yaml']);
    cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    const ca = createTestCa();
    const caFile = join(cluster.dir, 'provider-ca.pem');
    await writeFile(caFile, ca.cert);
    fake = await startFakeProvider('OpenAI', ca.issue());
    cluster.kubectl(['apply', '-f', '-'], secretYaml('openai-key', 'sk-first', true));
    cluster.kubectl(['apply', '-f', '-'], providerYaml('openai', `${fake.url}/v1`, 'openai-key'));
    cluster.kubectl(['apply', '-f', '-'], providerRouteYaml('gpt', 'openai'));
    router = await startRouterApp({
      configPaths: [],
      kubernetes: { kubeconfig: cluster.routerKubeconfig, namespaces: [], watchTimeoutSeconds: 5 },
      port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0, metricsPort: null, debugPort: 0, accessLog: null, upstreamCaFile: caFile,
      logger: pino({ level: 'silent' }),
    });
    openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'client-key-never-forwarded', maxRetries: 0 });
  });

  after(async () => {
    await router?.shutdown(1000);
    await fake?.close();
    await cluster?.stop();
  });

  it('routes to the provider over HTTPS with the labelled Secret\'s credential', async () => {
    assert.deepEqual(await conditions('openai'), ['CredentialsResolved=True/CredentialResolved', 'Ready=True/Ready']);
    const completion = await openai.chat.completions.create({ model: 'gpt', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0].message.content, 'Hello from the provider');
    const reached = fake.requests.at(-1)!;
    assert.equal(reached.path, '/v1/chat/completions');
    assert.equal(reached.headers.authorization, 'Bearer sk-first');
    assert.equal(reached.body.model, 'gpt-upstream');
  });

  it('a rotated Secret sends the new credential', async () => {
    cluster.kubectl(['apply', '-f', '-'], secretYaml('openai-key', 'sk-rotated', true));
    await waitFor(() => router.store.snapshot?.providers.get('default/openai')?.headers.includes('Bearer sk-rotated') === true, 5000, 'rotated credential');
    await openai.chat.completions.create({ model: 'gpt', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(fake.requests.at(-1)!.headers.authorization, 'Bearer sk-rotated');
  });

  it('a Secret that loses the credential label leaves the provider not ready; labelled again, it serves again', async () => {
    const served = fake.requests.length;
    cluster.kubectl(['label', 'secret', 'openai-key', '-n', 'default', `${LABEL}-`]);
    await waitForReady('openai', false, 'label removed');
    const res = await post(`${router.url}/v1/chat/completions`, { model: 'gpt', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 503, res.text);
    const { error } = res.json() as { error: { code: string; message: string } };
    assert.equal(error.code, 'provider_not_ready');
    assert.match(error.message, /Secret default\/openai-key not found/);
    assert.ok(error.message.includes(LABEL), error.message);
    assert.equal(fake.requests.length, served, 'nothing reached the provider');

    cluster.kubectl(['label', 'secret', 'openai-key', '-n', 'default', `${LABEL}=true`]);
    await waitForReady('openai', true, 'label restored');
    await openai.chat.completions.create({ model: 'gpt', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(fake.requests.at(-1)!.headers.authorization, 'Bearer sk-rotated');
  });

  it('a Secret never labelled is never read: provider_not_ready; deleting the labelled Secret does the same', async () => {
    cluster.kubectl(['apply', '-f', '-'], secretYaml('unlabelled-key', 'sk-hidden', false));
    cluster.kubectl(['apply', '-f', '-'], providerYaml('unlabelled', `${fake.url}/v1`, 'unlabelled-key'));
    cluster.kubectl(['apply', '-f', '-'], providerRouteYaml('gpt-unlabelled', 'unlabelled'));
    await waitFor(() => router.store.snapshot?.routesByModel.has('gpt-unlabelled') === true, 5000, 'route applied');
    assert.deepEqual(await conditions('unlabelled'), ['CredentialsResolved=False/CredentialNotFound', 'Ready=False/CredentialNotFound']);
    const res = await post(`${router.url}/v1/chat/completions`, { model: 'gpt-unlabelled', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 503, res.text);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'provider_not_ready');

    cluster.kubectl(['delete', 'secret', 'openai-key', '-n', 'default']);
    await waitForReady('openai', false, 'Secret deleted');
    const gone = await post(`${router.url}/v1/chat/completions`, { model: 'gpt', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(gone.status, 503, gone.text);
  });

  it('writes each provider\'s conditions to its status, as Kthena\'s router does, and only when they change', async () => {
    interface Stored { metadata: { generation: number; resourceVersion: string }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; observedGeneration?: number; lastTransitionTime?: string }[] } }
    const stored = (name: string): Stored => JSON.parse(cluster.kubectl(['get', 'externalmodelprovider', name, '-n', 'default', '-o', 'json'])) as Stored;
    const said = (object: Stored): string[] => (object.status?.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`);
    // The Secret was deleted in the test before: not ready, in the API server too.
    await waitFor(() => said(stored('openai')).join() === 'CredentialsResolved=False/CredentialNotFound,Ready=False/CredentialNotFound', 10_000, 'openai not ready in its status');
    await waitFor(() => said(stored('unlabelled')).join() === 'CredentialsResolved=False/CredentialNotFound,Ready=False/CredentialNotFound', 10_000, 'unlabelled not ready in its status');

    cluster.kubectl(['apply', '-f', '-'], secretYaml('openai-key', 'sk-back', true));
    await waitFor(() => said(stored('openai')).join() === 'CredentialsResolved=True/CredentialResolved,Ready=True/Ready', 10_000, 'openai ready in its status');
    const ready = stored('openai');
    assert.equal(ready.status?.observedGeneration, ready.metadata.generation);
    for (const condition of ready.status?.conditions ?? []) {
      assert.equal(condition.observedGeneration, ready.metadata.generation);
      assert.match(condition.lastTransitionTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    // Nothing changes any more: no write, so the object's resourceVersion stays (no loop through its own watch).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(stored('openai').metadata.resourceVersion, ready.metadata.resourceVersion);
  });
});
