// JWT authentication against a real JWKS served over loopback HTTP, with real RS256/ES256 tokens signed by jose.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, importJWK, type CryptoKey } from 'jose';
import { RouterError } from '../../errors/router-error.ts';
import type { Identity } from './identity.ts';
import { JwksStore } from './jwks-store.ts';
import { JwksTestServer, signingKey, signToken, type SigningKey } from './jwks-test-server.ts';
import { JwtAuthenticator } from './jwt-authenticator.ts';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'switchyard';
const never = new AbortController().signal;
const now = (): number => Math.floor(Date.now() / 1000);

function store(uri: string, overrides: Partial<ConstructorParameters<typeof JwksStore>[0]> = {}): JwksStore {
  return new JwksStore({ uri, refreshIntervalMs: 3_600_000, minRefreshIntervalMs: 60_000, retryDelayMs: 10, ...overrides });
}

async function rejected(result: Identity | RouterError | Promise<Identity | RouterError>, pattern: RegExp): Promise<RouterError> {
  const value = await result;
  assert.ok(value instanceof RouterError, `expected a refusal, got ${JSON.stringify(value)}`);
  assert.equal(value.status, 401);
  assert.equal(value.code, 'unauthorized');
  assert.match(value.message, pattern);
  const challenge = value.headers[value.headers.indexOf('www-authenticate') + 1];
  assert.match(challenge ?? '', /^Bearer realm="switchyard", error="invalid_token"/);
  return value;
}

describe('JWT authentication (Kthena claim rules)', () => {
  let server: JwksTestServer;
  let rsa: SigningKey;
  let ec: SigningKey;
  let keys: JwksStore;
  let jwt: JwtAuthenticator;

  before(async () => {
    server = await JwksTestServer.start();
    rsa = await signingKey('rsa-1', 'RS256');
    ec = await signingKey('ec-1', 'ES256');
    server.keys = [rsa.publicJwk, ec.publicJwk];
    keys = store(server.uri);
    assert.equal(await keys.start(), true);
    jwt = new JwtAuthenticator({ keys, issuer: ISSUER, audiences: [AUDIENCE, 'other'] });
  });
  after(async () => {
    keys.close();
    await server.close();
  });

  const valid = { iss: ISSUER, aud: AUDIENCE };

  it('accepts RS256 and ES256 tokens; sub is the user', async () => {
    assert.deepEqual(await jwt.verify(await signToken(rsa, valid), never), { user: 'alice', method: 'jwt' });
    assert.deepEqual(await jwt.verify(await signToken(ec, { ...valid, sub: 'bob' }), never), { user: 'bob', method: 'jwt' });
  });

  it('accepts a token without kid (every key of a matching type is tried)', async () => {
    const other = await signingKey('rsa-2', 'RS256');
    server.keys = [other.publicJwk, rsa.publicJwk, ec.publicJwk];
    const refreshed = store(server.uri);
    await refreshed.start();
    try {
      const open = new JwtAuthenticator({ keys: refreshed, issuer: ISSUER, audiences: [] });
      assert.deepEqual(await open.verify(await signToken(rsa, { iss: ISSUER }, { kid: undefined }), never), { user: 'alice', method: 'jwt' });
    } finally {
      refreshed.close();
      server.keys = [rsa.publicJwk, ec.publicJwk];
    }
  });

  it('answers a token it verified before synchronously', async () => {
    const token = await signToken(rsa, { ...valid, sub: 'carol' });
    assert.ok(jwt.verify(token, never) instanceof Promise);
    await jwt.verify(token, never);
    assert.deepEqual(jwt.verify(token, never), { user: 'carol', method: 'jwt' });
  });

  it('accepts aud as a list containing one configured audience', async () => {
    assert.deepEqual(await jwt.verify(await signToken(rsa, { ...valid, aud: ['x', 'other'] }), never), { user: 'alice', method: 'jwt' });
  });

  it('skips the audience check when no audiences are configured', async () => {
    const open = new JwtAuthenticator({ keys, issuer: ISSUER, audiences: [] });
    assert.deepEqual(await open.verify(await signToken(rsa, { iss: ISSUER }), never), { user: 'alice', method: 'jwt' });
  });

  it('rejects an expired token', async () => {
    await rejected(jwt.verify(await signToken(rsa, { ...valid, iat: now() - 7200, exp: now() - 60 }), never), /expired/);
  });

  it('rejects a token without exp', async () => {
    await rejected(jwt.verify(await signToken(rsa, { ...valid, exp: undefined }), never), /no exp claim/);
  });

  it('rejects a token that is not yet valid (nbf)', async () => {
    await rejected(jwt.verify(await signToken(rsa, { ...valid, nbf: now() + 600 }), never), /not yet valid/);
  });

  it('allows iat up to one minute ahead, not more', async () => {
    assert.deepEqual(await jwt.verify(await signToken(rsa, { ...valid, iat: now() + 30 }), never), { user: 'alice', method: 'jwt' });
    await rejected(jwt.verify(await signToken(rsa, { ...valid, iat: now() + 300 }), never), /issued in the future/);
  });

  it('rejects a wrong issuer, a missing issuer and a wrong audience', async () => {
    await rejected(jwt.verify(await signToken(rsa, { ...valid, iss: 'https://issuer.test/' }), never), /wrong issuer/);
    await rejected(jwt.verify(await signToken(rsa, { aud: AUDIENCE }), never), /iss/);
    await rejected(jwt.verify(await signToken(rsa, { ...valid, aud: 'someone-else' }), never), /wrong audience/);
  });

  it('rejects a token without sub', async () => {
    await rejected(jwt.verify(await signToken(rsa, { ...valid, sub: undefined }), never), /no sub claim/);
  });

  it('rejects a bad signature (signed by another key under a known kid)', async () => {
    const impostor = { ...(await signingKey('rsa-1', 'RS256')) };
    await rejected(jwt.verify(await signToken(impostor, valid), never), /signature verification failed/);
    const token = await signToken(rsa, valid);
    const [header, payload] = token.split('.');
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...valid, sub: 'mallory', exp: now() + 60 })).toString('base64url')}.${token.split('.')[2]}`;
    assert.notEqual(payload, tampered.split('.')[1]);
    await rejected(jwt.verify(tampered, never), /signature verification failed/);
  });

  it('rejects alg "none"', async () => {
    const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${encode({ alg: 'none', kid: 'rsa-1' })}.${encode({ ...valid, sub: 'mallory', exp: now() + 60 })}.`;
    await rejected(jwt.verify(unsigned, never), /alg "none"/);
  });

  it('rejects HS256 signed with the RSA public key (key confusion)', async () => {
    const pem = await exportSPKI((await importJWK(rsa.publicJwk, 'RS256', { extractable: true })) as CryptoKey);
    const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: 'HS256', kid: 'rsa-1' })}.${encode({ ...valid, sub: 'mallory', exp: now() + 60 })}`;
    const forged = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
    await rejected(jwt.verify(forged, never), /HS256 is not accepted/);
  });

  it('rejects garbage', async () => {
    await rejected(jwt.verify('a.b.c', never), /malformed/);
  });
});

describe('JWKS rotation and refresh', () => {
  it('accepts a new kid without a restart, and rejects an unknown kid after one refresh', async () => {
    const server = await JwksTestServer.start();
    const first = await signingKey('k1');
    const second = await signingKey('k2');
    server.keys = [first.publicJwk];
    const keys = store(server.uri, { minRefreshIntervalMs: 0 });
    await keys.start();
    const jwt = new JwtAuthenticator({ keys, issuer: ISSUER, audiences: [] });
    try {
      assert.equal(server.hits, 1);
      const rotated = await signToken(second, { iss: ISSUER });
      await rejected(jwt.verify(rotated, never), /unknown signing key \(kid "k2"\)/);
      assert.equal(server.hits, 2, 'the unknown kid triggered one refresh');

      server.keys = [first.publicJwk, second.publicJwk];
      assert.deepEqual(await jwt.verify(rotated, never), { user: 'alice', method: 'jwt' });
      assert.equal(server.hits, 3);
      assert.deepEqual(await jwt.verify(await signToken(first, { iss: ISSUER }), never), { user: 'alice', method: 'jwt' }, 'old key still valid');

      // The old key is withdrawn: the scheduled refresh (here: one forced by an unknown kid) drops it, and a token
      // verified with it before is no longer answered from the cache.
      const old = await signToken(first, { iss: ISSUER, sub: 'dave' });
      assert.deepEqual(await jwt.verify(old, never), { user: 'dave', method: 'jwt' });
      server.keys = [second.publicJwk];
      await rejected(jwt.verify(await signToken(await signingKey('k3'), { iss: ISSUER }), never), /unknown signing key/);
      await rejected(jwt.verify(old, never), /unknown signing key \(kid "k1"\)/);
    } finally {
      keys.close();
      await server.close();
    }
  });

  it('rate-limits refreshes triggered by unknown kids', async () => {
    const server = await JwksTestServer.start();
    const known = await signingKey('known');
    server.keys = [known.publicJwk];
    const keys = store(server.uri, { minRefreshIntervalMs: 3_600_000 });
    await keys.start();
    const jwt = new JwtAuthenticator({ keys, issuer: ISSUER, audiences: [] });
    try {
      // Right after the start-up fetch, no refresh is allowed: unknown kids are refused without fetching.
      for (const kid of ['x1', 'x2', 'x3']) {
        await rejected(jwt.verify(await signToken(await signingKey(kid), { iss: ISSUER }), never), /unknown signing key/);
      }
      assert.equal(server.hits, 1);
    } finally {
      keys.close();
      await server.close();
    }
  });

  it('joins concurrent unknown-kid refreshes into one fetch', async () => {
    const server = await JwksTestServer.start();
    const key = await signingKey('late');
    server.keys = [];
    const keys = store(server.uri, { minRefreshIntervalMs: 0 });
    await keys.start();
    const jwt = new JwtAuthenticator({ keys, issuer: ISSUER, audiences: [] });
    try {
      server.keys = [key.publicJwk];
      server.hold();
      const tokens = await Promise.all(['u1', 'u2', 'u3'].map((sub) => signToken(key, { iss: ISSUER, sub })));
      const pending = tokens.map((token) => Promise.resolve(jwt.verify(token, never)));
      while (server.hits < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      server.release();
      assert.deepEqual((await Promise.all(pending)).map((r) => (r as Identity).user), ['u1', 'u2', 'u3']);
      assert.equal(server.hits, 2);
    } finally {
      keys.close();
      await server.close();
    }
  });

  it('retries the start-up fetch while the JWKS server fails', async () => {
    const server = await JwksTestServer.start();
    const key = await signingKey('k');
    server.keys = [key.publicJwk];
    server.failNext = 2;
    const keys = store(server.uri, { startupAttempts: 5 });
    try {
      assert.equal(await keys.start(), true);
      assert.equal(server.hits, 3);
      const jwt = new JwtAuthenticator({ keys, issuer: ISSUER, audiences: [] });
      assert.deepEqual(await jwt.verify(await signToken(key, { iss: ISSUER }), never), { user: 'alice', method: 'jwt' });
    } finally {
      keys.close();
      await server.close();
    }
  });

  it('without any JWKS after the start-up attempts, refuses tokens, and recovers once the server answers', async () => {
    const server = await JwksTestServer.start();
    const key = await signingKey('k');
    server.keys = [key.publicJwk];
    server.failNext = 1000;
    const keys = store(server.uri, { startupAttempts: 2, minRefreshIntervalMs: 0, maxRetryDelayMs: 20 });
    const jwt = new JwtAuthenticator({ keys, issuer: ISSUER, audiences: [] });
    try {
      assert.equal(await keys.start(), false);
      const token = await signToken(key, { iss: ISSUER });
      await rejected(jwt.verify(token, never), /no JWKS available/);
      server.failNext = 0;
      // Background retries continue; a request also triggers a refresh when none is loaded.
      assert.deepEqual(await jwt.verify(token, never), { user: 'alice', method: 'jwt' });
    } finally {
      keys.close();
      await server.close();
    }
  });

  it('settles at once when the request aborts while waiting for a JWKS fetch', async () => {
    const server = await JwksTestServer.start();
    const key = await signingKey('slow');
    server.keys = [];
    const keys = store(server.uri, { minRefreshIntervalMs: 0 });
    await keys.start();
    const jwt = new JwtAuthenticator({ keys, issuer: ISSUER, audiences: [] });
    try {
      server.keys = [key.publicJwk];
      server.hold();
      const controller = new AbortController();
      const pending = jwt.verify(await signToken(key, { iss: ISSUER }), controller.signal);
      assert.ok(pending instanceof Promise);
      while (server.hits < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      let settled = false;
      void pending.then(() => (settled = true));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled, false, 'waits while the fetch is held');
      controller.abort();
      await rejected(pending, /aborted while the JWKS was being fetched/);
      assert.equal(server.hits, 2, 'the fetch is still held: the request stopped waiting, not the fetch');
    } finally {
      keys.close();
      await server.close();
    }
  });
});
