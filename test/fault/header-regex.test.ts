// Route regexes through the router: header values arrive as UTF-8 bytes and are matched as the text Go's router sees,
// with RE2's classes (Node hands header bytes over as Latin-1 characters).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEnv, modelServer, podStub, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { rawRequest } from '../support/raw-http.ts';

const route = `apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata: {name: by-header, namespace: default}
spec:
  modelName: m
  rules:
  - name: one-code-point
    modelMatch: {headers: {x-tag: {regex: "^.$"}}}
    targetModels: [{modelServerName: special}]
  - name: city
    modelMatch: {headers: {x-city: {exact: "zürich"}}}
    targetModels: [{modelServerName: special}]
  - name: space
    modelMatch: {headers: {x-space: {regex: "^\\\\s$"}}}
    targetModels: [{modelServerName: special}]
  - name: default
    targetModels: [{modelServerName: plain}]
`;

describe('header matches through the router', () => {
  let env: TestEnv;
  let special: FakePod;
  let plain: FakePod;
  let url: string;
  before(async () => {
    env = await createEnv();
    special = await startFakePod('special');
    plain = await startFakePod('plain');
    await writeYaml(env, 'r.yaml', [
      modelServer('special', { app: 'special', model: 'up' }), podStub('special-0', 'special', special.port),
      modelServer('plain', { app: 'plain', model: 'up' }), podStub('plain-0', 'plain', plain.port), route,
    ]);
    url = (await startRouter(env)).url;
  });
  after(async () => {
    await env.cleanup();
    await Promise.all([special.close(), plain.close()]);
  });

  /** Which pod answered a request carrying `header` (sent as UTF-8 bytes). */
  const servedBy = async (header: string): Promise<string> => {
    const head = Buffer.from(`POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${header}`, 'utf8').toString('latin1');
    const res = await rawRequest(url, head, '{"model":"m","prompt":"x"}');
    assert.equal(res.status, 200, res.text);
    return (res.json() as { model: string }).model;
  };

  it('`.` is one code point of the UTF-8 value', async () => {
    assert.equal(await servedBy('x-tag: \u{1F600}'), 'special');
    assert.equal(await servedBy('x-tag: é'), 'special');
    assert.equal(await servedBy('x-tag: ab'), 'plain');
  });
  it('exact compares the UTF-8 text', async () => {
    assert.equal(await servedBy('x-city: zürich'), 'special');
    assert.equal(await servedBy('x-city: zurich'), 'plain');
  });
  it('\\s is RE2\'s: no vertical tab, no Unicode space', async () => {
    assert.equal(await servedBy('x-space: \u00a0'), 'plain');
    assert.equal(await servedBy('x-space: \u2003'), 'plain');
  });
});
