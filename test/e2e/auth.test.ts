// Authentication through a real router: the router configuration's `auth` section with a JWKS served by the test on
// loopback, the official openai client, API keys from a file, credential forwarding to the pod, and reloads.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import pino from 'pino';
import type { RouterApp } from '../../src/cli/router-app.ts';
import { hashApiKey } from '../../src/filters/auth/index.ts';
import { JwksTestServer, signingKey, signToken, type SigningKey } from '../../src/filters/auth/jwks-test-server.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import type { RequestRecord } from '../../src/server/inference-handler.ts';
import { killAll, startServe } from '../support/process.ts';
import { createEnv, get, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'switchyard';
const HELLO = { model: 'm', messages: [{ role: 'user' as const, content: 'hello' }], max_tokens: 3 };

function openai(router: RouterApp, apiKey: string): OpenAI {
  return new OpenAI({ baseURL: `${router.url}/v1`, apiKey, maxRetries: 0 });
}

describe('authentication through the router', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mock: MockEngineHandle;
  let jwks: JwksTestServer;
  let key: SigningKey;
  let configDir: string;
  let routerConfig: string;
  let keysFile: string;
  const records: RequestRecord[] = [];
  const logLines: string[] = [];

  const writeRouterConfig = (auth: Record<string, unknown>): Promise<void> =>
    writeFile(routerConfig, JSON.stringify({ auth: { jwksUri: jwks.uri, issuer: ISSUER, audiences: [AUDIENCE], apiKeysFile: keysFile,
      // Unknown-kid refreshes are rate-limited (30 s by default); the rotation test refreshes at once.
      jwksMinRefreshInterval: 0, ...auth } }));

  before(async () => {
    env = await createEnv();
    configDir = await mkdtemp(join(tmpdir(), 'switchyard-auth-'));
    routerConfig = join(configDir, 'router.yaml');
    keysFile = join(configDir, 'keys.yaml');
    jwks = await JwksTestServer.start();
    key = await signingKey('k1');
    jwks.keys = [key.publicJwk];
    await writeFile(keysFile, `- user: bob\n  keyHash: ${hashApiKey('sk-bob-secret')}\n`);
    await writeRouterConfig({});
    mock = await startMock(env, { model: 'm' });
    await writeYaml(env, 'config.yaml', [modelServer('ms', { app: 'm' }), podStub('m-0', 'm', mock.port), simpleRoute('r', 'm', 'ms')]);
    router = await startRouter(env, {
      routerConfigFile: routerConfig, onRequestDone: (r) => records.push(r), logger: pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) }),
    });
  });
  after(async () => {
    await env.cleanup();
    await jwks.close();
    await rm(configDir, { recursive: true, force: true });
  });

  it('a valid JWT through the official openai client gets its answer; the pod receives the token; the user is logged', async () => {
    const token = await signToken(key, { iss: ISSUER, aud: AUDIENCE, sub: 'alice' });
    const answer = await openai(router, token).chat.completions.create(HELLO);
    assert.equal(answer.choices.length, 1);
    const stats = await mockStats(mock);
    assert.equal(stats.lastRequest?.headers.authorization, `Bearer ${token}`, 'forwarded to the in-cluster pod, as Kthena');
    await waitFor(() => records.some((r) => r.user === 'alice'), 5000, 'the access record to name alice');
  });

  for (const [name, claims, header] of [
    ['an expired token', { iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }, {}],
    ['a token for another audience', { iss: ISSUER, aud: 'someone-else' }, {}],
    ['a token from another issuer', { iss: 'https://other.test', aud: AUDIENCE }, {}],
  ] as const) {
    it(`${name} is 401 with WWW-Authenticate and an OpenAI-style body`, async () => {
      const token = await signToken(key, claims, header);
      const before = (await mockStats(mock)).received;
      await assert.rejects(openai(router, token).chat.completions.create(HELLO), (err: unknown) => {
        assert.ok(err instanceof OpenAI.AuthenticationError);
        assert.equal(err.status, 401);
        assert.equal(err.code, 'unauthorized');
        assert.match(err.headers.get('www-authenticate') ?? '', /^Bearer/);
        return true;
      });
      assert.equal((await mockStats(mock)).received, before, 'never dispatched');
    });
  }

  it('alg none is refused', async () => {
    const encode = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const token = `${encode({ alg: 'none', kid: 'k1' })}.${encode({ iss: ISSUER, aud: AUDIENCE, sub: 'eve', iat: now, exp: now + 600 })}.`;
    const res = await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 401);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'unauthorized');
  });

  it('a rotated key (new kid) is accepted without a restart', async () => {
    const rotated = await signingKey('k2');
    jwks.keys = [key.publicJwk, rotated.publicJwk];
    const token = await signToken(rotated, { iss: ISSUER, aud: AUDIENCE, sub: 'carol' });
    const answer = await openai(router, token).chat.completions.create(HELLO);
    assert.equal(answer.choices.length, 1);
  });

  it('an API key from the key file names its user', async () => {
    const res = await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer sk-bob-secret' });
    assert.equal(res.status, 200);
    await waitFor(() => records.some((r) => r.user === 'bob'), 5000, 'the access record to name bob');
    const wrong = await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer sk-nobody' });
    assert.equal(wrong.status, 401);
  });

  it('the model list takes the same credential as inference', async () => {
    for (const path of ['/v1/models', '/v1/models/chat']) {
      const anonymous = await get(`${router.url}${path}`);
      assert.equal(anonymous.status, 401, `${path}: ${anonymous.text}`);
      assert.equal(anonymous.headers['www-authenticate'], 'Bearer realm="switchyard"');
      assert.equal((anonymous.json() as { error: { code: string } }).error.code, 'unauthorized');
    }
    const listed = await openai(router, 'sk-bob-secret').models.list();
    assert.ok(listed.data.length > 0);
    await assert.rejects(openai(router, 'sk-nobody').models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError);
  });

  it('an edit of the API key file alone takes effect; an invalid edit keeps the last good keys', async () => {
    await writeFile(keysFile, `- user: bob\n  keyHash: ${hashApiKey('sk-bob-secret')}\n- user: frank\n  key: sk-frank-new\n`);
    await waitFor(async () => (await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer sk-frank-new' })).status === 200, 10_000, 'the new key');
    logLines.length = 0;
    await writeFile(keysFile, '- user: nobody\n'); // neither key nor keyHash
    await waitFor(() => logLines.some((l) => l.includes('API key file rejected')), 10_000, 'the edit to be rejected');
    assert.equal((await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer sk-frank-new' })).status, 200);
    // Truncated in place (an editor or a script mid-rewrite): the last good keys stay, nobody is locked out.
    logLines.length = 0;
    await writeFile(keysFile, '');
    await waitFor(() => logLines.some((l) => l.includes('has no keys any more')), 10_000, 'the emptied file to be rejected');
    assert.equal((await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer sk-frank-new' })).status, 200);
    // A router configuration reload meanwhile reads the same emptied file.
    for (const auth of [{ jwksMinRefreshInterval: '0s' }, { jwksRefreshInterval: '10m' }]) { // an equal section, then a changed one
      logLines.length = 0;
      await writeRouterConfig(auth);
      await waitFor(() => logLines.some((l) => l.includes('router configuration rejected')), 10_000, 'the reload to be rejected');
      assert.ok(logLines.some((l) => l.includes('has no keys any more') && l.includes(`(auth.apiKeysFile of ${routerConfig})`)), logLines.join('\n'));
      assert.equal((await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer sk-frank-new' })).status, 200);
    }
    await writeFile(keysFile, `- user: bob\n  keyHash: ${hashApiKey('sk-bob-secret')}\n`);
    await waitFor(async () => (await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: 'Bearer sk-frank-new' })).status === 401, 10_000, 'the revoked key');
  });

  it('a reload with forwardCredential: false keeps the credential from the pod; a new issuer takes effect', async () => {
    await writeRouterConfig({ forwardCredential: false, issuer: 'https://new-issuer.test' });
    const oldIssuer = await signToken(key, { iss: ISSUER, aud: AUDIENCE, sub: 'alice' });
    await waitFor(async () => (await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: `Bearer ${oldIssuer}` })).status === 401, 10_000, 'the new issuer');
    const token = await signToken(key, { iss: 'https://new-issuer.test', aud: AUDIENCE, sub: 'dave' });
    const res = await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200);
    const stats = await mockStats(mock);
    assert.equal(stats.lastRequest?.headers.authorization, undefined, 'not forwarded');
  });

  it('an invalid auth section on reload keeps the last good configuration', async () => {
    logLines.length = 0;
    await writeFile(routerConfig, JSON.stringify({ auth: { jwksUri: jwks.uri, audiences: [AUDIENCE] } })); // no issuer
    await waitFor(() => logLines.some((l) => l.includes('router configuration rejected')), 10_000, 'the reload to be rejected');
    const issue = logLines.map((l) => JSON.parse(l) as { level: number; file?: string; field?: string }).find((l) => l.field === 'auth.issuer');
    assert.equal(issue?.file, routerConfig, 'the error names the file and the field');
    assert.equal((await post(`${router.url}/v1/chat/completions`, HELLO)).status, 401, 'authentication is still on');
    const token = await signToken(key, { iss: 'https://new-issuer.test', aud: AUDIENCE, sub: 'dave' });
    const res = await post(`${router.url}/v1/chat/completions`, HELLO, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200);

    // A changed auth section pointing at a key file that cannot be read: the error names the field that points at it.
    logLines.length = 0;
    await writeRouterConfig({ issuer: 'https://third-issuer.test', apiKeysFile: join(configDir, 'missing-keys.yaml') });
    await waitFor(() => logLines.some((l) => l.includes('router configuration rejected')), 10_000, 'the reload to be rejected');
    assert.ok(logLines.some((l) => l.includes('cannot read the API key file') && l.includes(`(auth.apiKeysFile of ${routerConfig})`)), logLines.join('\n'));
  });
});

describe('switchyard serve --router-config with an auth section', () => {
  let env: TestEnv;
  let configDir: string;

  before(async () => {
    env = await createEnv();
    configDir = await mkdtemp(join(tmpdir(), 'switchyard-serve-auth-'));
  });
  after(async () => {
    await killAll();
    await env.cleanup();
    await rm(configDir, { recursive: true, force: true });
  });

  it('refuses a request without a key and answers one with a key from the key file', async () => {
    const mock = await startMock(env, { model: 'm' });
    await writeYaml(env, 'config.yaml', [modelServer('ms', { app: 'm' }), podStub('m-0', 'm', mock.port), simpleRoute('r', 'm', 'ms')]);
    const keysFile = join(configDir, 'keys.yaml');
    await writeFile(keysFile, '- user: erin\n  key: sk-erin-0123\n');
    const routerConfig = join(configDir, 'router.yaml');
    await writeFile(routerConfig, `auth:\n  apiKeysFile: ${keysFile}\n`);
    const { url } = await startServe(['--config', env.dir, '--router-config', routerConfig]);
    const refused = await post(`${url}/v1/chat/completions`, HELLO);
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers['www-authenticate']), /^Bearer realm="switchyard"/);
    const answer = await openai({ url } as RouterApp, 'sk-erin-0123').chat.completions.create(HELLO);
    assert.equal(answer.choices.length, 1);
  });
});
