// Authentication, assembled from the `auth` section. The pipeline calls `authenticator.authenticate(rawHeaders, signal)`.
import { readFile } from 'node:fs/promises';
import type { SectionResult } from '../config-issues.ts';
import { issueAt } from '../config-issues.ts';
import { parseApiKeys, type ApiKeySet } from './api-keys.ts';
import type { AuthConfig } from './auth-config.ts';
import { RequestAuthenticator } from './authenticator.ts';
import { JwksStore, type AuthLog } from './jwks-store.ts';
import { JwtAuthenticator } from './jwt-authenticator.ts';

export { parseAuthConfig, type AuthConfig, type JwtConfig } from './auth-config.ts';
export { ApiKeySet, hashApiKey, parseApiKeys, parseApiKeysSecret } from './api-keys.ts';
export { RequestAuthenticator, type AuthResult } from './authenticator.ts';
export { credentialHeadersToStrip, type UpstreamKind } from './forwarded-headers.ts';
export type { Identity } from './identity.ts';
export { JwksStore, type AuthLog, type JwksStoreOptions } from './jwks-store.ts';
export { JwtAuthenticator, ACCEPTED_ALGORITHMS } from './jwt-authenticator.ts';

export interface Authentication {
  readonly authenticator: RequestAuthenticator;
  /** The JWKS cache, null without JWT authentication. */
  readonly jwks: JwksStore | null;
  /** Settles after the first JWKS fetch succeeded (true) or its start-up retries were exhausted (false). */
  readonly jwksReady: Promise<boolean>;
  /** Headers to strip before forwarding (see credentialHeadersToStrip). */
  readonly forwardCredential: boolean;
  close(): void;
}

/** Reads and validates an API key file. */
export async function loadApiKeyFile(path: string): Promise<SectionResult<ApiKeySet>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, issues: [issueAt('error', path, [], `cannot read the API key file: ${(err as Error).message}`)] };
  }
  return parseApiKeys(text, path);
}

/**
 * Builds the authenticator for `config`: loads the API key file and starts the JWKS fetch (not awaited: requests
 * with a JWT that arrive before the keys wait for the fetch, bounded by their own signal).
 */
export async function startAuthentication(config: AuthConfig, options: { readonly log?: AuthLog } = {}): Promise<SectionResult<Authentication>> {
  let apiKeys: ApiKeySet | null = null;
  if (config.apiKeysFile !== null) {
    const loaded = await loadApiKeyFile(config.apiKeysFile);
    if (!loaded.ok) return loaded;
    apiKeys = loaded.config;
  }
  let jwks: JwksStore | null = null;
  let jwt: JwtAuthenticator | null = null;
  if (config.jwt !== null) {
    jwks = new JwksStore({
      uri: config.jwt.jwksUri,
      refreshIntervalMs: config.jwt.refreshIntervalMs,
      minRefreshIntervalMs: config.jwt.minRefreshIntervalMs,
      ...(options.log !== undefined ? { log: options.log } : {}),
    });
    jwt = new JwtAuthenticator({ keys: jwks, issuer: config.jwt.issuer, audiences: config.jwt.audiences });
  }
  const store = jwks;
  const authenticator = new RequestAuthenticator({ jwt, apiKeys, allowAnonymous: config.allowAnonymous });
  return {
    ok: true,
    issues: [],
    config: {
      authenticator,
      jwks,
      jwksReady: store !== null ? store.start() : Promise.resolve(true),
      forwardCredential: config.forwardCredential,
      close: () => store?.close(),
    },
  };
}
