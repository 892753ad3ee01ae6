// The router configuration's `auth` section: Kthena's three fields (jwksUri, issuer, audiences) plus Switchyard's
// (API keys, refresh timing, credential forwarding). Unlike Kthena, a jwksUri without an issuer is a config error
// (Kthena accepts it and then rejects every token, since `iss` must equal the empty string).
import { z } from 'zod';
import type { ConfigIssue } from '../../resources/types.ts';
import { durationMs, issueAt, parseSection, type SectionResult } from '../config-issues.ts';

export interface AuthConfig {
  /** JWT authentication; null when no jwksUri is set. */
  readonly jwt: JwtConfig | null;
  /** Path of the static API key file (YAML or JSON); null when API keys are off. */
  readonly apiKeysFile: string | null;
  /** Forward the caller's Authorization / x-api-key to in-cluster pods (Kthena does). Never to external providers. */
  readonly forwardCredential: boolean;
  /** Let requests without any credential through as anonymous (the authenticator answers null). */
  readonly allowAnonymous: boolean;
}

export interface JwtConfig {
  readonly jwksUri: string;
  readonly issuer: string;
  /** Empty: `aud` is not checked (as Kthena). */
  readonly audiences: readonly string[];
  readonly refreshIntervalMs: number;
  /** Least time between two refreshes triggered by tokens with an unknown `kid`. */
  readonly minRefreshIntervalMs: number;
}

export const DEFAULT_JWKS_REFRESH_INTERVAL_MS = 60 * 60_000;
export const DEFAULT_JWKS_MIN_REFRESH_INTERVAL_MS = 30_000;

const authSchema = z.strictObject({
  jwksUri: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).nullish(),
  issuer: z.string().min(1).nullish(),
  audiences: z.array(z.string().min(1)).nullish(),
  jwksRefreshInterval: durationMs.nullish(),
  jwksMinRefreshInterval: durationMs.nullish(),
  apiKeysFile: z.string().min(1).nullish(),
  forwardCredential: z.boolean().nullish(),
  allowAnonymous: z.boolean().nullish(),
});

/**
 * Validates the `auth` section (`raw` is its value; null/undefined = no section). config null means authentication
 * is off. Issues name `file` and the field path under `auth`.
 */
export function parseAuthConfig(raw: unknown, file: string): SectionResult<AuthConfig | null> {
  if (raw === undefined || raw === null) return { ok: true, config: null, issues: [] };
  const parsed = parseSection(authSchema, raw, file, ['auth']);
  if (!parsed.ok) return parsed;
  const section = parsed.config;
  const issues: ConfigIssue[] = [];
  let jwt: JwtConfig | null = null;
  if (section.jwksUri) {
    if (!section.issuer) issues.push(issueAt('error', file, ['auth', 'issuer'], 'is required with jwksUri (tokens must name their issuer exactly)'));
    else {
      jwt = {
        jwksUri: section.jwksUri,
        issuer: section.issuer,
        audiences: section.audiences ?? [],
        refreshIntervalMs: section.jwksRefreshInterval ?? DEFAULT_JWKS_REFRESH_INTERVAL_MS,
        minRefreshIntervalMs: section.jwksMinRefreshInterval ?? DEFAULT_JWKS_MIN_REFRESH_INTERVAL_MS,
      };
      if (jwt.refreshIntervalMs < 1000) issues.push(issueAt('error', file, ['auth', 'jwksRefreshInterval'], 'must be at least 1s'));
    }
  } else {
    for (const key of ['issuer', 'audiences', 'jwksRefreshInterval', 'jwksMinRefreshInterval'] as const) {
      if (section[key] !== undefined && section[key] !== null) {
        issues.push(issueAt('warning', file, ['auth', key], 'has no effect without jwksUri (JWT authentication is off)'));
      }
    }
  }
  if (issues.some((i) => i.severity === 'error')) return { ok: false, issues };
  const apiKeysFile = section.apiKeysFile ?? null;
  if (jwt === null && apiKeysFile === null) return { ok: true, config: null, issues };
  return {
    ok: true,
    config: { jwt, apiKeysFile, forwardCredential: section.forwardCredential ?? true, allowAnonymous: section.allowAnonymous ?? false },
    issues,
  };
}
