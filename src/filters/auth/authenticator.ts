// Which credential a request carries, and who checks it:
//   1. `Authorization: Bearer <token>` (scheme case-insensitive, exactly two fields, as Kthena): a token of the JWS
//      compact shape `xxx.yyy.zzz` is a JWT; any other token (e.g. `sk-...`) is an API key.
//   2. Otherwise `x-api-key: <key>` is an API key.
//   3. Neither: 401, or anonymous (null) when allowAnonymous.
// A request with more than one Authorization or x-api-key header is refused. When Authorization is present,
// x-api-key is not looked at.
import type { RouterError } from '../../errors/router-error.ts';
import type { ApiKeySet } from './api-keys.ts';
import type { Identity } from './identity.ts';
import type { JwtAuthenticator } from './jwt-authenticator.ts';
import { invalidCredential, missingCredential } from './unauthorized.ts';

export type AuthResult = Identity | null | RouterError;

export interface RequestAuthenticatorOptions {
  readonly jwt: JwtAuthenticator | null;
  readonly apiKeys: ApiKeySet | null;
  readonly allowAnonymous?: boolean;
}

const WHITESPACE = /\s+/;

export class RequestAuthenticator {
  private apiKeys: ApiKeySet | null;
  private readonly jwt: JwtAuthenticator | null;
  private readonly allowAnonymous: boolean;

  constructor(o: RequestAuthenticatorOptions) {
    this.jwt = o.jwt;
    this.apiKeys = o.apiKeys;
    this.allowAnonymous = o.allowAnonymous ?? false;
  }

  /** Replaces the API keys (a reloaded key file); null turns API keys off. */
  setApiKeys(keys: ApiKeySet | null): void {
    this.apiKeys = keys;
  }

  /** How many API keys are in force (0 when API keys are off). */
  get apiKeyCount(): number {
    return this.apiKeys?.size ?? 0;
  }

  /** Synchronous unless a JWT's key must be fetched first; a promise settles at once when `signal` aborts. */
  authenticate(rawHeaders: readonly string[], signal: AbortSignal): AuthResult | Promise<AuthResult> {
    let authorization: string | null = null;
    let apiKey: string | null = null;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      if (name.length === 13 && name.toLowerCase() === 'authorization') {
        if (authorization !== null) return invalidCredential('more than one Authorization header');
        authorization = rawHeaders[i + 1];
      } else if (name.length === 9 && name.toLowerCase() === 'x-api-key') {
        if (apiKey !== null) return invalidCredential('more than one x-api-key header');
        apiKey = rawHeaders[i + 1];
      }
    }
    if (authorization !== null) {
      const fields = authorization.trim().split(WHITESPACE);
      if (fields.length !== 2 || fields[0]?.toLowerCase() !== 'bearer' || fields[1] === '') {
        return invalidCredential('the Authorization header must be "Bearer <token>"');
      }
      const token = fields[1];
      return isJwtShaped(token) ? this.checkJwt(token, signal) : this.checkApiKey(token);
    }
    if (apiKey !== null) return this.checkApiKey(apiKey.trim());
    if (this.allowAnonymous) return null;
    return missingCredential(this.jwt !== null ? 'authentication required: send "Authorization: Bearer <token>"' : 'authentication required: send an API key');
  }

  private checkJwt(token: string, signal: AbortSignal): AuthResult | Promise<AuthResult> {
    if (this.jwt === null) return invalidCredential('JWT authentication is not configured; send an API key');
    return this.jwt.verify(token, signal);
  }

  private checkApiKey(key: string): AuthResult {
    if (this.apiKeys === null) return invalidCredential('API keys are not accepted; send a JWT');
    return this.apiKeys.lookup(key) ?? invalidCredential('invalid API key');
  }
}

/** Two dots, like a JWS compact serialization (header.payload.signature). */
function isJwtShaped(token: string): boolean {
  const first = token.indexOf('.');
  if (first < 0) return false;
  const second = token.indexOf('.', first + 1);
  return second > 0 && token.indexOf('.', second + 1) < 0;
}
