// Test support: a JWKS served over HTTP on a loopback port, and keys to sign tokens with.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function signingKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

/** A token signed by `key`; claims default to a valid one for `issuer`/`audience` (exp in 1 h, sub alice). */
export function signToken(key: SigningKey, claims: JWTPayload & { exp?: number | undefined }, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { sub: 'alice', iat: now, exp: now + 3600, ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

export class JwksTestServer {
  keys: JWK[] = [];
  /** Requests received so far. */
  hits = 0;
  /** Answer this many of the next requests with 503. */
  failNext = 0;
  /** While set, requests wait until release() is called. */
  private held: (() => void)[] | null = null;
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => {
      this.hits++;
      const answer = (): void => {
        if (this.failNext > 0) {
          this.failNext--;
          res.writeHead(503).end('unavailable');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
      };
      if (this.held !== null) this.held.push(answer);
      else answer();
    });
  }

  static async start(): Promise<JwksTestServer> {
    const server = new JwksTestServer();
    server.server.listen(0, '127.0.0.1');
    await once(server.server, 'listening');
    return server;
  }

  get uri(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const answer of held) answer();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}
