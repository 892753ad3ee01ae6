// The credential chain (Bearer JWT / Bearer API key / x-api-key), API key files, the auth config section, and which
// credential headers are forwarded.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { RouterError, writeErrorResponse } from '../../errors/router-error.ts';
import { hashApiKey, parseApiKeys, parseApiKeysSecret, type ApiKeySet } from './api-keys.ts';
import { RequestAuthenticator, type AuthResult } from './authenticator.ts';
import type { Identity } from './identity.ts';
import { credentialHeadersToStrip, parseAuthConfig, startAuthentication, type Authentication } from './index.ts';
import { JwksTestServer, signingKey, signToken, type SigningKey } from './jwks-test-server.ts';

const never = new AbortController().signal;

function keySet(text: string): ApiKeySet {
  const parsed = parseApiKeys(text, 'keys.yaml');
  assert.ok(parsed.ok, JSON.stringify(parsed.issues));
  return parsed.config;
}

async function refusal(result: AuthResult | Promise<AuthResult>): Promise<{ message: string; challenge: string }> {
  const value = await result;
  assert.ok(value instanceof RouterError, `expected a refusal, got ${JSON.stringify(value)}`);
  assert.equal(value.status, 401);
  assert.deepEqual(JSON.parse(value.toBody()).error.code, 'unauthorized');
  return { message: value.message, challenge: value.headers[value.headers.indexOf('www-authenticate') + 1] ?? '' };
}

describe('API keys', () => {
  const keys = keySet(`
- user: alice
  keyHash: ${hashApiKey('sk-alice-0123456789')}
- user: bob
  key: sk-bob-9876543210
`);
  const auth = new RequestAuthenticator({ jwt: null, apiKeys: keys });

  it('accepts a key as Bearer or x-api-key; each key names its user', () => {
    assert.deepEqual(auth.authenticate(['Authorization', 'Bearer sk-alice-0123456789'], never), { user: 'alice', method: 'api-key' });
    assert.deepEqual(auth.authenticate(['authorization', 'bearer   sk-bob-9876543210 '], never), { user: 'bob', method: 'api-key' });
    assert.deepEqual(auth.authenticate(['X-Api-Key', 'sk-bob-9876543210'], never), { user: 'bob', method: 'api-key' });
  });

  it('refuses unknown keys, malformed Authorization and duplicated headers', async () => {
    assert.match((await refusal(auth.authenticate(['x-api-key', 'sk-alice-012345678'], never))).message, /invalid API key/);
    assert.match((await refusal(auth.authenticate(['authorization', 'Basic abc'], never))).message, /must be "Bearer <token>"/);
    assert.match((await refusal(auth.authenticate(['authorization', 'Bearer a b'], never))).message, /must be "Bearer <token>"/);
    const twice = ['authorization', 'Bearer sk-bob-9876543210', 'Authorization', 'Bearer sk-alice-0123456789'];
    assert.match((await refusal(auth.authenticate(twice, never))).message, /more than one Authorization/);
  });

  it('a JWT-shaped bearer token goes to the JWT authenticator, which is not configured here', async () => {
    assert.match((await refusal(auth.authenticate(['authorization', 'Bearer a.b.c'], never))).message, /JWT authentication is not configured/);
  });

  it('no credential: 401 with a bare Bearer challenge, or anonymous when allowed', async () => {
    const missing = await refusal(auth.authenticate(['host', 'x'], never));
    assert.equal(missing.challenge, 'Bearer realm="switchyard"');
    assert.equal(new RequestAuthenticator({ jwt: null, apiKeys: keys, allowAnonymous: true }).authenticate([], never), null);
  });

  it('keeps only hashes, and can be replaced (reload)', () => {
    const held = inspect(keys, { depth: 10, showHidden: true, maxStringLength: Infinity });
    assert.match(held, new RegExp(hashApiKey('sk-bob-9876543210')));
    assert.doesNotMatch(held, /sk-bob/);
    const reloaded = new RequestAuthenticator({ jwt: null, apiKeys: keys });
    reloaded.setApiKeys(keySet('- {user: carol, key: sk-carol-1}'));
    assert.deepEqual(reloaded.authenticate(['x-api-key', 'sk-carol-1'], never), { user: 'carol', method: 'api-key' });
    assert.ok(reloaded.authenticate(['x-api-key', 'sk-bob-9876543210'], never) instanceof RouterError);
  });

  it("reads the same list from a Kubernetes Secret's data", () => {
    const data = { 'api-keys.yaml': Buffer.from('- {user: svc, key: sk-svc-1}').toString('base64') };
    const parsed = parseApiKeysSecret(data, 'api-keys.yaml', 'Secret default/router-keys');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.config.lookup('sk-svc-1'), { user: 'svc', method: 'api-key' });
    const missing = parseApiKeysSecret(data, 'keys.json', 'Secret default/router-keys');
    assert.equal(missing.ok, false);
    assert.equal(missing.issues[0]?.path, 'data["keys.json"]');
  });

  it('reports bad key files with the entry and field', () => {
    const cases: [string, string, RegExp][] = [
      ['- {user: a}', '[0]', /exactly one of key and keyHash/],
      ['- {user: a, key: k, keyHash: abc}', '[0].keyHash', /SHA-256/],
      ['- {user: a, key: x.y.z}', '[0].key', /shape of a JWT/],
      ['- {user: a, key: k1}\n- {user: b, key: k1}', '[1]', /same key as entry 0/],
      ['- {user: a, key: k1, role: admin}', '[0].role', /unknown field/],
      ['{user: a, key: k}', '', /must be a list/],
    ];
    for (const [text, path, message] of cases) {
      const parsed = parseApiKeys(text, 'keys.yaml');
      assert.equal(parsed.ok, false, text);
      const issue = parsed.issues.find((i) => i.path === path);
      assert.ok(issue, `${text}: ${JSON.stringify(parsed.issues)}`);
      assert.equal(issue.file, 'keys.yaml');
      assert.match(issue.message, message);
    }
  });

  it('never quotes a key in its errors (they are logged)', () => {
    const cases: [string, string, string][] = [
      ['- sk-a-bare-key-123', '[0]', 'must be a mapping, got a string'],
      ['- {user: a, key: 73519284650123}', '[0].key', 'must be a string, got a number'],
      ['- user: a\n  key: sk-a-bare-key-123: oops', '', 'YAML syntax error: Nested mappings are not allowed in compact mappings at line 2, column 8'],
    ];
    for (const [text, path, message] of cases) {
      const parsed = parseApiKeys(text, 'keys.yaml');
      assert.equal(parsed.ok, false, text);
      assert.deepEqual(parsed.issues.map((i) => [i.path, i.message]), [[path, message]], text);
    }
  });
});

describe('JWT and API keys together, from the auth section', () => {
  let server: JwksTestServer;
  let key: SigningKey;
  let auth: Authentication;

  before(async () => {
    server = await JwksTestServer.start();
    key = await signingKey('k1', 'ES256');
    server.keys = [key.publicJwk];
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-auth-'));
    const keyFile = join(dir, 'keys.json');
    await writeFile(keyFile, JSON.stringify([{ user: 'ci-bot', key: 'sk-ci-bot-secret' }]));
    const config = parseAuthConfig({ jwksUri: server.uri, issuer: 'https://issuer.test', audiences: ['sw'], apiKeysFile: keyFile }, 'router.yaml');
    assert.ok(config.ok && config.config !== null, JSON.stringify(config.issues));
    const started = await startAuthentication(config.config);
    assert.ok(started.ok);
    auth = started.config;
    assert.equal(await auth.jwksReady, true);
  });
  after(async () => {
    auth.close();
    await server.close();
  });

  it('decides by the token shape', async () => {
    const token = await signToken(key, { iss: 'https://issuer.test', aud: 'sw', sub: 'user-42' });
    assert.deepEqual(await auth.authenticator.authenticate(['authorization', `Bearer ${token}`], never), { user: 'user-42', method: 'jwt' });
    assert.deepEqual(auth.authenticator.authenticate(['authorization', 'Bearer sk-ci-bot-secret'], never), { user: 'ci-bot', method: 'api-key' });
    assert.match((await refusal(auth.authenticator.authenticate(['authorization', `Bearer ${token}x`], never))).message, /signature/);
  });
});

describe('a 401 as the official openai client sees it', () => {
  it('AuthenticationError with the code and message, and the challenge header', async () => {
    const auth = new RequestAuthenticator({ jwt: null, apiKeys: keySet('- {user: alice, key: sk-alice-1}') });
    const server = createServer((req, res) => {
      const result = auth.authenticate(req.rawHeaders, never);
      if (result instanceof RouterError) return writeErrorResponse(res, result, 'req-1', false);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: `for-${(result as Identity).user}`, object: 'model', created: 0, owned_by: 'x' }] }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    try {
      const good = new OpenAI({ apiKey: 'sk-alice-1', baseURL, maxRetries: 0 });
      assert.equal((await good.models.list()).data[0]?.id, 'for-alice');
      const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL, maxRetries: 0 });
      const error = await bad.models.list().then(() => null, (err: unknown) => err);
      assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
      assert.equal(error.status, 401);
      assert.equal(error.code, 'unauthorized');
      assert.match(error.message, /invalid API key/);
      assert.match(error.headers.get('www-authenticate') ?? '', /^Bearer realm="switchyard", error="invalid_token"/);
    } finally {
      server.close();
    }
  });
});

describe('auth config section', () => {
  it("reads Kthena's three fields and Switchyard's defaults", () => {
    const parsed = parseAuthConfig({ jwksUri: 'https://idp/jwks', issuer: 'https://idp', audiences: ['a'] }, 'r.yaml');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.config, {
      jwt: { jwksUri: 'https://idp/jwks', issuer: 'https://idp', audiences: ['a'], refreshIntervalMs: 3_600_000, minRefreshIntervalMs: 30_000 },
      apiKeysFile: null, forwardCredential: true, allowAnonymous: false,
    });
    assert.deepEqual(parseAuthConfig(undefined, 'r.yaml'), { ok: true, config: null, issues: [] });
  });

  it('names the file and field of every problem', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ jwksUri: 'https://idp/jwks' }, 'auth.issuer', /required with jwksUri/],
      [{ jwksUri: 'ftp://idp', issuer: 'x' }, 'auth.jwksUri', /http/],
      [{ jwksUri: 'https://idp/jwks', issuer: 'x', jwksRefreshInterval: 'soon' }, 'auth.jwksRefreshInterval', /invalid duration/],
      [{ jwksUri: 'https://idp/jwks', issuer: 'x', audience: ['a'] }, 'auth.audience', /unknown field/],
    ];
    for (const [raw, path, message] of cases) {
      const parsed = parseAuthConfig(raw, 'r.yaml');
      assert.equal(parsed.ok, false);
      const issue = parsed.issues.find((i) => i.path === path);
      assert.ok(issue, `${JSON.stringify(raw)}: ${JSON.stringify(parsed.issues)}`);
      assert.equal(issue.file, 'r.yaml');
      assert.match(issue.message, message);
    }
  });

  it('warns that issuer without jwksUri does nothing (authentication stays off, as in Kthena)', () => {
    const parsed = parseAuthConfig({ issuer: 'x' }, 'r.yaml');
    assert.ok(parsed.ok);
    assert.equal(parsed.config, null);
    assert.equal(parsed.issues[0]?.path, 'auth.issuer');
  });
});

describe('credential forwarding', () => {
  it('forwards to in-cluster pods unless configured not to; never to external providers', () => {
    assert.deepEqual(credentialHeadersToStrip('in-cluster', true), []);
    assert.deepEqual(credentialHeadersToStrip('in-cluster', false), ['authorization', 'x-api-key']);
    assert.deepEqual(credentialHeadersToStrip('external', true), ['authorization', 'x-api-key']);
  });
});
