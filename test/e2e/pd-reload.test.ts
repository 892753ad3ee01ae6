// PD classification follows the configuration: an edited pdGroup re-classes pods that did not change at all
// (Kthena only classes a pod when the pod itself is added or updated).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { createEnv, mockStats, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { pdPod, pdServer } from '../support/pd-fixtures.ts';

describe('PD classification on reload', () => {
  let env: TestEnv;
  let router: RouterApp;
  let first: MockEngineHandle;
  let second: MockEngineHandle;

  const config = (swapped: boolean): string[] => {
    let server = pdServer('pd', 'http', { model: 'm' });
    if (swapped) server = server.replace('"P-instance"', '"@"').replace('"D-instance"', '"P-instance"').replace('"@"', '"D-instance"');
    return [server, pdPod('first', 'pd', 'prefill', 'g', first.port), pdPod('second', 'pd', 'decode', 'g', second.port), simpleRoute('pd', 'pd', 'pd')];
  };

  before(async () => {
    env = await createEnv();
    first = await startMock(env, { model: 'm', instanceName: 'first' });
    second = await startMock(env, { model: 'm', instanceName: 'second' });
    await writeYaml(env, 'pd.yaml', config(false));
    router = await startRouter(env);
  });
  after(() => env.cleanup());

  it('swapping prefillLabels and decodeLabels swaps the roles of the same pods', async () => {
    const before = await post(`${router.url}/v1/completions`, { model: 'pd', prompt: 'x', max_tokens: 5 });
    assert.equal(before.headers['x-mock-instance'], 'second', 'the D-instance pod decodes');
    assert.equal(((await mockStats(first)).lastRequest?.body as { max_tokens: number }).max_tokens, 1, 'the P-instance pod prefills');

    const generation = router.store.snapshot!.generation;
    await writeYaml(env, 'pd.yaml', config(true));
    await waitFor(() => router.store.snapshot!.generation > generation, 5000, 'the reload');
    const after = await post(`${router.url}/v1/completions`, { model: 'pd', prompt: 'y', max_tokens: 5 });
    assert.equal(after.headers['x-mock-instance'], 'first', 'now the pod labelled P-instance decodes');
    assert.equal(((await mockStats(second)).lastRequest?.body as { max_tokens: number; prompt: string }).max_tokens, 1);
  });
});
