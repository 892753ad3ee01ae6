// ExternalModelProviders → CompiledProviders: everything a request to a provider needs, computed when the
// configuration changes: the origin and base path of baseURL, the headers every request gets (spec.headers, then the
// credential from the Secret), the response timeout, and the status conditions Kthena's controller would write.
// A provider whose credential cannot be resolved still compiles (as in Kthena, where it is only "not Ready"): its
// requests are refused with `notReady`, and the configuration warns.
import { checkTimerDuration } from '../resources/duration.ts';
import { CREDENTIAL_LABEL, DEFAULT_PROVIDER_TIMEOUT_MS, PROVIDER_TIMEOUT_ANNOTATION, type ConfigIssue, type ExternalModelProvider, type LoadedResource, type SecretDocument } from '../resources/types.ts';
import type { CompiledProvider, ProviderCondition } from './types.ts';

export { DEFAULT_PROVIDER_TIMEOUT_MS };

/** RFC 9110 field-value characters: visible ASCII, space and tab (and obs-text). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

type CredentialReason = 'CredentialNotRequired' | 'CredentialResolved' | 'CredentialNotFound' | 'CredentialKeyNotFound' | 'CredentialInvalid';

export function compileProviders(
  providers: readonly LoadedResource<ExternalModelProvider>[],
  secrets: ReadonlyMap<string, SecretDocument>,
  issues: ConfigIssue[],
): Map<string, CompiledProvider> {
  const compiled = new Map<string, CompiledProvider>();
  for (const item of providers) {
    const provider = compileProvider(item.resource, secrets);
    compiled.set(provider.key, provider);
    if (provider.notReady !== null) {
      issues.push({
        severity: 'warning', file: item.origin.file, documentIndex: item.origin.documentIndex,
        object: `ExternalModelProvider ${provider.key}`, path: 'spec.auth.secretRef',
        message: `${provider.notReady}; requests routed to it get 503 provider_not_ready`,
      });
    }
  }
  return compiled;
}

function compileProvider(resource: ExternalModelProvider, secrets: ReadonlyMap<string, SecretDocument>): CompiledProvider {
  const { metadata, spec } = resource;
  const key = `${metadata.namespace}/${metadata.name}`;
  const url = new URL(spec.baseURL); // validated: https, a host, no credentials, query or fragment
  const basePath = url.pathname.replace(/\/+$/, '');
  const headers: string[] = [];
  const staticHeaderNames = new Set<string>();
  for (const [name, value] of Object.entries(spec.headers)) {
    if (name.toLowerCase() === 'x-request-id') continue; // the router's per request (validation warns)
    // Sent as UTF-8 bytes, as Kthena (Go) sends them; Node writes header strings as Latin-1 and refuses a character
    // beyond it (every request would fail), so the string carries one byte per character.
    headers.push(name.toLowerCase(), Buffer.from(value, 'utf8').toString('latin1'));
    staticHeaderNames.add(name.toLowerCase());
  }
  const credential = resolveCredential(resource, secrets);
  if (credential.token !== null) {
    const scheme = spec.auth?.scheme ?? (spec.providerType === 'Anthropic' ? 'APIKey' : 'Bearer');
    if (scheme === 'Bearer') headers.push('authorization', `Bearer ${credential.token}`);
    else headers.push('x-api-key', credential.token);
  }
  const timeout = metadata.annotations[PROVIDER_TIMEOUT_ANNOTATION];
  // Validated (validate-external-model-provider.ts) and clamped to the longest timer.
  const parsedTimeout = timeout === undefined ? undefined : checkTimerDuration(timeout);
  const timeoutMs = parsedTimeout?.ok ? parsedTimeout.ms : DEFAULT_PROVIDER_TIMEOUT_MS;
  const ready = credential.reason === 'CredentialNotRequired' || credential.reason === 'CredentialResolved';
  const conditions: ProviderCondition[] = [
    { type: 'CredentialsResolved', status: ready ? 'True' : 'False', reason: credential.reason, message: credential.message },
    { type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'Ready' : credential.reason, message: ready ? 'the provider can serve requests' : credential.message },
  ];
  return {
    key,
    namespace: metadata.namespace,
    name: metadata.name,
    type: spec.providerType,
    model: spec.model,
    origin: url.origin,
    basePath,
    insecureSkipVerify: spec.insecureSkipVerify,
    headers,
    streamHeaders: staticHeaderNames.has('accept-encoding') ? withoutHeader(headers, 'accept-encoding') : headers,
    staticHeaderNames,
    timeoutMs: timeoutMs > 0 ? timeoutMs : DEFAULT_PROVIDER_TIMEOUT_MS,
    notReady: ready ? null : `external provider ${key} is not ready: ${credential.message}`,
    conditions,
    resource,
  };
}

function withoutHeader(headers: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== name) out.push(headers[i], headers[i + 1]);
  return out;
}

function resolveCredential(resource: ExternalModelProvider, secrets: ReadonlyMap<string, SecretDocument>): { token: string | null; reason: CredentialReason; message: string } {
  const ref = resource.spec.auth?.secretRef;
  if (ref === undefined) return { token: null, reason: 'CredentialNotRequired', message: 'no spec.auth' };
  const secretKey = `${resource.metadata.namespace}/${ref.name}`;
  const secret = secrets.get(secretKey);
  if (secret === undefined) return { token: null, reason: 'CredentialNotFound', message: `Secret ${secretKey} not found (in a cluster only Secrets labelled ${CREDENTIAL_LABEL}: "true" are read)` };
  if (secret.metadata.labels[CREDENTIAL_LABEL] !== 'true') {
    return { token: null, reason: 'CredentialNotFound', message: `Secret ${secretKey} lacks the label ${CREDENTIAL_LABEL}: "true"` };
  }
  const value = secret.values[ref.key];
  if (value === undefined) return { token: null, reason: 'CredentialKeyNotFound', message: `Secret ${secretKey} has no key ${ref.key}` };
  const token = value.trim();
  if (token === '' || !HEADER_VALUE.test(token)) {
    return { token: null, reason: 'CredentialInvalid', message: `Secret ${secretKey} key ${ref.key} is empty or not a valid header value` };
  }
  return { token, reason: 'CredentialResolved', message: `credential from Secret ${secretKey} key ${ref.key}` };
}
