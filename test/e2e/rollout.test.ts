// Graceful rollout of `switchyard serve` (as a cluster's rolling restart does it) and `switchyard webhook` as a
// subprocess with a generated certificate.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import {
  createEnv, get, modelServer, podStub, post, simpleRoute, startMock, waitFor, writeYaml, type TestEnv,
} from '../support/harness.ts';
import { killAll, spawnCli, startServe, tryConnect } from '../support/process.ts';

describe('serve --shutdown-grace', () => {
  const envs: TestEnv[] = [];
  after(async () => {
    await killAll();
    await Promise.all(envs.map((e) => e.cleanup()));
  });

  it('SIGTERM: /readyz fails at once, requests are still served through the grace period, then the drain closes', async () => {
    const env = await createEnv();
    envs.push(env);
    const mock = await startMock(env, { model: 'm-upstream' });
    await writeYaml(env, 'c.yaml', [modelServer('srv', { model: 'm-upstream' }), podStub('p0', 'srv', mock.port), simpleRoute('m', 'm', 'srv')]);
    const { proc, url } = await startServe(['--config', env.dir, '--shutdown-grace', '2s', '--drain-timeout', '5s']);
    assert.equal((await get(`${url}/readyz`)).status, 200);
    proc.signal('SIGTERM');
    await waitFor(async () => (await get(`${url}/readyz`)).status === 503, 5000, '/readyz failing');
    // Still inside the grace period: new connections are accepted and requests are answered.
    const during = await post(`${url}/v1/completions`, { model: 'm', prompt: 'hi', max_tokens: 2 });
    assert.equal(during.status, 200, during.text);
    assert.equal(proc.hasExited, false);
    await waitFor(async () => (await tryConnect(Number(new URL(url).port))) === 'refused', 10_000, 'the listener closing after the grace');
    assert.deepEqual(await proc.waitForExit(), { code: 0, signal: null }, proc.describe());
    assert.match(proc.stdout, /"msg":"not ready; still accepting requests for the grace period"/);
  });
});

describe('switchyard webhook (subprocess)', () => {
  after(() => killAll());

  it('serves AdmissionReviews over HTTPS with a generated certificate', async () => {
    const proc = spawnCli(['webhook', '--port', '0', '--host', '127.0.0.1']);
    const match = await proc.waitForOutput(/"port":(\d+)[^\n]*"msg":"switchyard webhook listening"/, 30_000);
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      const ask = async (object: unknown) => {
        const res = await request(`https://127.0.0.1:${match[1]}/validate/modelroute`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
            request: { uid: 'u1', operation: 'CREATE', kind: { kind: 'ModelRoute' }, object },
          }),
        });
        assert.equal(res.statusCode, 200);
        return ((await res.body.json()) as { response: { uid: string; allowed: boolean; status?: { message: string } } }).response;
      };
      const route = (weight: number) => ({
        apiVersion: 'networking.serving.volcano.sh/v1alpha1', kind: 'ModelRoute', metadata: { name: 'r', namespace: 'default' },
        spec: { modelName: 'm', rules: [{ targetModels: [{ modelServerName: 's', weight }] }] },
      });
      assert.deepEqual(await ask(route(50)), { uid: 'u1', allowed: true });
      const denied = await ask(route(150));
      assert.equal(denied.allowed, false);
      assert.equal(denied.status?.message, 'switchyard: ModelRoute default/r: field spec.rules[0].targetModels[0].weight: must be at most 100, got 150');
    } finally {
      await agent.close();
    }
  });
});
