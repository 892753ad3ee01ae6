// JWT bearer tokens with Kthena's claim rules: `iss` equals the configured issuer exactly, `aud` contains one of the
// configured audiences (when any are configured), `exp` is required and not passed, `nbf` (if present) reached,
// `iat` (if present) at most 1 minute in the future, `sub` required and becomes the user.
// Signatures are checked with jose against the JWKS, asymmetric algorithms only (no `none`, no HS*: an HS256 token
// "signed" with an RSA public key is refused before any key is used). jose verifies through WebCrypto and is always
// asynchronous, so a token verified once is kept in a bounded cache: the next request with the same token is answered
// synchronously (exp and nbf re-checked; the cache empties whenever the key set changes).
import { decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { RouterError } from '../../errors/router-error.ts';
import type { Identity } from './identity.ts';
import type { JwksStore, KeySet } from './jwks-store.ts';
import { invalidCredential } from './unauthorized.ts';

export const ACCEPTED_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
]);
const ACCEPTED = new Set(ACCEPTED_ALGORITHMS);
const IAT_SKEW_SECONDS = 60;

export interface JwtAuthenticatorOptions {
  readonly keys: JwksStore;
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Verified tokens kept for the synchronous path. Default 10,000. */
  readonly cacheSize?: number;
}

interface Verified {
  readonly identity: Identity;
  readonly exp: number;
  readonly nbf: number;
  readonly keysVersion: number;
}

export type JwtResult = Identity | RouterError;

export class JwtAuthenticator {
  private readonly cache = new Map<string, Verified>();
  private readonly cacheSize: number;
  private readonly verifyOptions: JWTVerifyOptions;
  private readonly o: JwtAuthenticatorOptions;

  constructor(options: JwtAuthenticatorOptions) {
    this.o = options;
    const o = options;
    this.cacheSize = o.cacheSize ?? 10_000;
    this.verifyOptions = {
      issuer: o.issuer,
      algorithms: [...ACCEPTED_ALGORITHMS],
      requiredClaims: ['exp', 'sub'],
      ...(o.audiences.length > 0 ? { audience: [...o.audiences] } : {}),
    };
  }

  verify(token: string, signal: AbortSignal): JwtResult | Promise<JwtResult> {
    const keys = this.o.keys.keys;
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (keys !== null && cached.keysVersion === keys.version) {
        const now = Date.now() / 1000;
        if (now > cached.exp) return invalidCredential('token has expired (exp)');
        if (now >= cached.nbf) return cached.identity;
      } else {
        this.cache.delete(token);
      }
    }
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg === undefined || header.alg === 'none') return invalidCredential('unsigned tokens (alg "none") are not accepted');
      if (!ACCEPTED.has(header.alg)) {
        return invalidCredential(`signing algorithm ${header.alg} is not accepted; tokens must be signed with an asymmetric key of the JWKS`);
      }
      kid = header.kid;
    } catch {
      return invalidCredential('malformed token: not a JWS compact serialization');
    }
    if (keys === null || (kid !== undefined && !keys.kids.has(kid))) return this.afterRefresh(token, kid, signal);
    return this.check(token, keys);
  }

  /** Unknown key id (or no keys yet): refresh the JWKS (rate-limited) and try again; stop waiting on abort. */
  private async afterRefresh(token: string, kid: string | undefined, signal: AbortSignal): Promise<JwtResult> {
    const refresh = this.o.keys.refreshForUnknownKid();
    if (refresh !== null) {
      const done = await untilAborted(refresh, signal);
      if (done === ABORTED) return invalidCredential('request aborted while the JWKS was being fetched');
    }
    const keys = this.o.keys.keys;
    if (keys === null) return invalidCredential('no JWKS available to verify the token');
    if (kid !== undefined && !keys.kids.has(kid)) return invalidCredential(`unknown signing key (kid "${kid}") after refreshing the JWKS`);
    return this.check(token, keys);
  }

  private async check(token: string, keys: KeySet): Promise<JwtResult> {
    let payload: JWTPayload;
    try {
      payload = await this.verifySignature(token, keys);
    } catch (err) {
      return invalidCredential(describeFailure(err, this.o));
    }
    const now = Date.now() / 1000;
    if (typeof payload.iat === 'number' && payload.iat > now + IAT_SKEW_SECONDS) return invalidCredential('token issued in the future (iat)');
    if (typeof payload.sub !== 'string' || payload.sub === '') return invalidCredential('token has no subject (sub)');
    const identity: Identity = { user: payload.sub, method: 'jwt' };
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, { identity, exp: payload.exp as number, nbf: payload.nbf ?? 0, keysVersion: keys.version });
    return identity;
  }

  /** jose's verification; a token without `kid` is tried against each key of a matching type (jose's documented way). */
  private async verifySignature(token: string, keys: KeySet): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, keys.resolve, this.verifyOptions)).payload;
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      for await (const candidate of err as errors.JWKSMultipleMatchingKeys & AsyncIterable<CryptoKey>) {
        try {
          return (await jwtVerify(token, candidate, this.verifyOptions)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }
}

function describeFailure(err: unknown, o: JwtAuthenticatorOptions): string {
  if (err instanceof errors.JWTExpired) return 'token has expired (exp)';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return `token has no ${err.claim} claim`;
    switch (err.claim) {
      case 'iss':
        return `wrong issuer (iss): expected "${o.issuer}"`;
      case 'aud':
        return `wrong audience (aud): expected one of ${o.audiences.map((a) => `"${a}"`).join(', ')}`;
      case 'nbf':
        return 'token is not yet valid (nbf)';
      default:
        return `invalid ${err.claim} claim: ${err.message}`;
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key of the JWKS matches the token (kid and algorithm)';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'signing algorithm not accepted';
  if (err instanceof errors.JOSEError) return `invalid token: ${err.message}`;
  return `invalid token: ${(err as Error).message}`;
}

const ABORTED: unique symbol = Symbol('aborted');

/** Resolves with the promise's value, or with ABORTED as soon as the signal aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve(ABORTED);
      },
    );
  });
}
