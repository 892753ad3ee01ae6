// Kthena's validating-webhook checks for ExternalModelProvider.
import { checkTimerDuration, timerClampedMessage } from './duration.ts';
import { errorAt, warningAt, type FieldProblem } from './problem.ts';
import { DEFAULT_PROVIDER_TIMEOUT_MS, PROVIDER_TIMEOUT_ANNOTATION, type ExternalModelProvider } from './types.ts';

/** Headers the router or the auth settings control (kthena common/provider_headers.go); lower-cased. */
const RESERVED_HEADERS = new Set(
  [
    'Authorization',
    'Proxy-Authorization',
    'Cookie',
    'X-API-Key',
    'Host',
    'Content-Length',
    'Connection',
    'Keep-Alive',
    'Proxy-Connection',
    'Transfer-Encoding',
    'Upgrade',
    'Trailer',
    'TE',
  ].map((name) => name.toLowerCase()),
);

/** RFC 9110 token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is being rejected
const CONTROL_CHARACTER = /[\x00-\x08\x0a-\x1f\x7f]/;

export function validateExternalModelProvider(provider: ExternalModelProvider): FieldProblem[] {
  const { spec } = provider;
  const problems = validateBaseURL(spec.baseURL);
  for (const [name, value] of Object.entries(spec.headers)) {
    const path = ['spec', 'headers', name];
    if (!HEADER_NAME.test(name)) {
      problems.push(errorAt(path, `${JSON.stringify(name)} is not a valid header name`));
    } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
      problems.push(errorAt(path, `${name} is reserved: the router or spec.auth sets it`));
    } else if (name.toLowerCase() === 'x-request-id') {
      problems.push(warningAt(path, 'not sent: the router sends each request its own x-request-id'));
    } else if (name.toLowerCase() === 'accept-encoding') {
      problems.push(warningAt(path, 'sent with non-streaming requests only: streams are asked for in identity encoding, so that the router reads their usage'));
    }
    if (/[\r\n]/.test(value)) {
      problems.push(errorAt(path, 'header value must not contain CR or LF'));
    } else if (CONTROL_CHARACTER.test(value)) {
      problems.push(errorAt(path, 'header value must not contain control characters'));
    }
  }
  problems.push(...timeoutAnnotationProblems(provider.metadata.annotations[PROVIDER_TIMEOUT_ANNOTATION]));
  const secretRef = spec.auth?.secretRef;
  if (secretRef) {
    const path = ['spec', 'auth', 'secretRef'];
    if (secretRef.name === '') problems.push(errorAt([...path, 'name'], 'must not be empty'));
    if (secretRef.key === '') problems.push(errorAt([...path, 'key'], 'must not be empty'));
    if (secretRef.optional === true) {
      problems.push(errorAt([...path, 'optional'], 'must not be true: requests to the provider need the credential'));
    }
  }
  return problems;
}

/** Read by the same rules as trafficPolicy.timeout (schema-common.ts durationMs). */
function timeoutAnnotationProblems(timeout: string | undefined): FieldProblem[] {
  if (timeout === undefined) return [];
  const path = ['metadata', 'annotations', PROVIDER_TIMEOUT_ANNOTATION];
  const parsed = checkTimerDuration(timeout);
  if (!parsed.ok) return [errorAt(path, parsed.error)];
  // Elsewhere 0 disables a timeout; here it cannot (a provider's answer is always bounded): say what applies instead.
  if (parsed.ms === 0) return [warningAt(path, `${JSON.stringify(timeout)} is no response timeout: the default, ${DEFAULT_PROVIDER_TIMEOUT_MS / 1000}s, applies`)];
  return parsed.clamped ? [warningAt(path, timerClampedMessage(timeout))] : [];
}

function validateBaseURL(baseURL: string): FieldProblem[] {
  const path = ['spec', 'baseURL'];
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    return [errorAt(path, `${JSON.stringify(baseURL)} is not a valid URL`)];
  }
  const problems: FieldProblem[] = [];
  // WHATWG URL parsing reads "https:///v1" as host "v1"; Go's url.Parse (Kthena) sees an empty host.
  const authority = /^https:\/\/([^/?#]*)/i.exec(baseURL)?.[1] ?? '';
  if (url.protocol !== 'https:') problems.push(errorAt(path, 'must use https'));
  if (authority === '' || url.hostname === '') problems.push(errorAt(path, 'must include a host'));
  if (url.username !== '' || url.password !== '' || authority.includes('@')) {
    problems.push(errorAt(path, 'must not contain user credentials; use spec.auth.secretRef'));
  }
  if (url.search !== '') problems.push(errorAt(path, 'must not contain a query string'));
  if (url.hash !== '') problems.push(errorAt(path, 'must not contain a fragment'));
  return problems;
}
