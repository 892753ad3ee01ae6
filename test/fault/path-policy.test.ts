// Only the inference API reaches the engines: admin endpoints and paths that only resolve to somewhere after
// decoding or normalising are refused with 404 and the pod never sees them; an operator can allow more.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEnv, modelServer, podStub, simpleRoute, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { runCli } from '../support/process.ts';
import { startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { rawRequest } from '../support/raw-http.ts';

describe('path policy', () => {
  let env: TestEnv;
  let pod: FakePod;
  let url: string;
  before(async () => {
    env = await createEnv();
    pod = await startFakePod('pod');
    await writeYaml(env, 'fake.yaml', [modelServer('srv', { model: 'up' }), podStub('pod-0', 'srv', pod.port), simpleRoute('m', 'm', 'srv')]);
    url = (await startRouter(env, { allowPaths: ['/v1/tokenize'] })).url;
  });
  after(async () => {
    await env.cleanup();
    await pod.close();
  });

  const postRaw = (path: string) =>
    rawRequest(url, `POST ${path} HTTP/1.1\nhost: x\ncontent-type: application/json`, '{"model":"m","prompt":"x","lora_name":"a","lora_path":"/x"}');

  it('refuses engine admin paths and paths that do not normalise to an allowed one, forwarding none', async () => {
    for (const path of ['/v1/load_lora_adapter', '/v1/unload_lora_adapter', '/v1/..%2fmetrics', '/v1/%252e%252e/', '/v1//completions', '/v1/./completions', '/v1/chat/../completions', '/v1/completions/']) {
      const res = await postRaw(path);
      assert.equal(res.status, 404, `${path}: ${res.text}`);
      assert.equal((res.json() as { error: { code: string } }).error.code, 'not_found');
    }
    assert.deepEqual(pod.requests.map((r) => r.path), [], 'the pod saw none of them');
  });

  it('forwards the inference API and the paths the operator allowed', async () => {
    for (const path of ['/v1/completions', '/v1/chat/completions', '/v1/embeddings', '/v1/responses', '/v1/messages', '/v1/rerank', '/v1/tokenize']) {
      assert.equal((await postRaw(path)).status, 200, path);
    }
    assert.deepEqual(pod.requests.map((r) => r.path), ['/v1/completions', '/v1/chat/completions', '/v1/embeddings', '/v1/responses', '/v1/messages', '/v1/rerank', '/v1/tokenize']);
  });

  it('--allow-path refuses a path that is not plain', async () => {
    const result = await runCli(['serve', '--config', env.dir, '--allow-path', '/v1/../metrics']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /not a plain absolute path/);
  });
});
