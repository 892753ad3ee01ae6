// An ExternalModelProvider (OpenAI or Anthropic API) as a backend, as Kthena proxies them (reference §6.10):
//   - paths: OpenAI /v1/chat/completions, /v1/completions, /v1/responses; Anthropic /v1/messages (and
//     /v1/messages/count_tokens); anything else is refused before anything is sent;
//   - URL: baseURL's path joined with the request path, its leading /v1 dropped when baseURL has a path (OpenAI)
//     or when baseURL's path ends in /v1 (Anthropic); the query is kept;
//   - headers: only the allow-listed client headers (never the client's Authorization, x-api-key or cookies), then
//     spec.headers (replacing a client header of the same name, e.g. anthropic-version) and the credential;
//   - answers pass through (4xx/5xx included); a 429 or 503 with a Retry-After that fits the request's deadline
//     (the provider's response timeout from the first attempt) is retried after that delay, at most twice, and the
//     retry waits for its headers only until that deadline.
import type { IncomingHttpHeaders } from 'node:http';
import { RouterError } from '../errors/router-error.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import type { CompiledProvider } from '../snapshot/types.ts';
import { STORED_RESPONSES_PREFIX, storedResponseTarget } from '../routing/stored-response-path.ts';
import type { AttemptSink, Backend, BackendAttempt, BackendType } from './backend.ts';
import { UpstreamLeg, type LegFailure, type LegListener, type LegRequest } from './upstream-leg.ts';
import { providerPoolKey, type UpstreamPools } from './upstream-pools.ts';

/** Retries of a provider's 429/503 answers that carry a Retry-After (ExchangeRequest.retryAttempts). */
export const PROVIDER_RETRIES = 2;

const PATHS: Readonly<Record<CompiledProvider['type'], ReadonlySet<string>>> = {
  OpenAI: new Set(['/v1/chat/completions', '/v1/completions', '/v1/responses']),
  Anthropic: new Set(['/v1/messages', '/v1/messages/count_tokens']),
};

/** Client headers a provider may see (Kthena's list), by lower-case name; x-b3-* is matched by prefix. */
const FORWARDED = new Set(['content-type', 'accept', 'traceparent', 'tracestate', 'baggage']);
const FORWARDED_BY_TYPE: Readonly<Record<CompiledProvider['type'], ReadonlySet<string>>> = {
  OpenAI: new Set(),
  Anthropic: new Set(['anthropic-version', 'anthropic-beta']),
};

const RETRY_STATUS: ReadonlySet<number> = new Set([429, 503]);
/** Delta-seconds; a fraction is read as the OpenAI and Anthropic SDKs read it. */
const SECONDS = /^\d+(?:\.\d+)?$/;
/** Anything else numeric ("-1", "1.2.3") is no date either, though V8's Date.parse reads such text as days of 2001. */
const NUMERIC = /^[+-]?[\d.]+$/;

export interface ProviderRequestContext {
  readonly requestId: string;
  /** Ask for an answer without content coding (streams: the SSE usage tap reads every event). */
  readonly identityEncoding: boolean;
}

/** The provider's path for the client's `path` (with query), or the RouterError refusing it. */
export function providerPath(provider: CompiledProvider, path: string): string | RouterError {
  const queryAt = path.indexOf('?');
  const pathOnly = queryAt < 0 ? path : path.slice(0, queryAt);
  const stored = provider.type === 'OpenAI' && pathOnly.startsWith(STORED_RESPONSES_PREFIX) && storedResponseTarget(pathOnly) !== null;
  if (!stored && !PATHS[provider.type].has(pathOnly)) {
    return new RouterError('provider_path_unsupported', `provider type "${provider.type}" does not support path "${pathOnly}"`);
  }
  const base = provider.basePath;
  const dropV1 = provider.type === 'OpenAI' ? base !== '' : base.endsWith('/v1');
  return `${base}${dropV1 ? path.slice(3) : path}`;
}

/** The provider request's headers: allow-listed client headers, spec.headers, the credential, the request id. */
export function providerHeaders(provider: CompiledProvider, rawHeaders: readonly string[], ctx: ProviderRequestContext): string[] {
  const out: string[] = [];
  const extra = FORWARDED_BY_TYPE[provider.type];
  const replaced = provider.staticHeaderNames;
  let contentType = replaced.has('content-type');
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i].toLowerCase();
    if ((FORWARDED.has(lower) || extra.has(lower) || lower.startsWith('x-b3-')) && !replaced.has(lower)) {
      out.push(lower, rawHeaders[i + 1]);
      if (lower === 'content-type') contentType = true;
    }
  }
  if (!contentType) out.push('content-type', 'application/json');
  for (const value of ctx.identityEncoding ? provider.streamHeaders : provider.headers) out.push(value);
  out.push('x-request-id', ctx.requestId);
  if (ctx.identityEncoding) out.push('accept-encoding', 'identity');
  return out;
}

export class ProviderBackend implements Backend, LegListener {
  readonly type: BackendType = 'external_provider';
  readonly withheldResponseHeaders = PROVIDER_ONLY_HEADERS;
  private readonly provider: CompiledProvider;
  private readonly request: LegRequest;
  private readonly pools: UpstreamPools;
  private readonly states: PodStateTable;
  private exchange: AttemptSink | null = null;
  private started = false;
  /** A retry was granted (a Retry-After fitting the deadline): next() may run once more. */
  private retryGranted = false;
  private retryDelayMs = 0;
  /** performance.now() by which the request should have its answer (first attempt + the response timeout). */
  private deadline = 0;
  private discarding = false;
  private status = 0;

  /** `request`: the provider's path, headers and body (providerPath, providerHeaders), and its response timeout. */
  constructor(provider: CompiledProvider, request: LegRequest, pools: UpstreamPools, states: PodStateTable) {
    this.provider = provider;
    this.request = request;
    this.pools = pools;
    this.states = states;
  }

  next(exchange: AttemptSink): BackendAttempt | null {
    if (this.started && !this.retryGranted) return null;
    let request = this.request;
    if (!this.started) this.deadline = performance.now() + this.provider.timeoutMs;
    else request = { ...request, timeoutMs: remainingTimeoutMs(this.deadline - performance.now(), this.provider.timeoutMs) };
    this.started = true;
    this.retryGranted = false;
    this.discarding = false;
    this.exchange = exchange;
    return new ProviderAttempt(this.provider, this.pools, this.states, this, request);
  }

  hasNext(): boolean {
    return this.retryGranted;
  }

  exhausted(): RouterError {
    return new RouterError('upstream_unavailable', `external provider ${this.provider.key} request failed`);
  }

  served(): void {}

  onStart(leg: UpstreamLeg, status: number, headers: IncomingHttpHeaders): void {
    const exchange = this.exchange!;
    this.status = status;
    if (RETRY_STATUS.has(status)) {
      const delay = retryAfterMs(headers['retry-after']);
      if (delay !== null && performance.now() + delay < this.deadline) {
        this.retryGranted = true;
        this.retryDelayMs = delay;
        if (exchange.wouldRetry(leg as ProviderAttempt)) {
          this.discarding = true;
          return;
        }
        this.retryGranted = false;
      }
    }
    if (!exchange.commit(leg as ProviderAttempt, null, status, headers)) leg.abandon(new Error('the exchange moved on'));
  }

  onData(_leg: UpstreamLeg, chunk: Buffer): boolean {
    return this.discarding || this.exchange!.relay(chunk);
  }

  onEnd(leg: UpstreamLeg): void {
    const exchange = this.exchange!;
    if (!this.discarding) return exchange.completed(leg as ProviderAttempt);
    const error = new RouterError('upstream_unavailable', `external provider ${this.provider.key} answered ${this.status}`);
    exchange.attemptFailed(leg as ProviderAttempt, error, 'retryable', this.retryDelayMs);
  }

  onFailure(leg: UpstreamLeg, failure: LegFailure): void {
    const exchange = this.exchange!;
    if (failure.afterHeaders && !this.discarding) return exchange.brokeMidway(leg as ProviderAttempt, failure.error);
    // A retry waits only for what is left of the response timeout: the message names the timeout the user set.
    const error = failure.kind === 'timeout' && !failure.afterHeaders
      ? new RouterError('upstream_timeout', `external provider ${this.provider.key} sent no response headers within ${this.provider.timeoutMs} ms`)
      : failure.error;
    exchange.attemptFailed(leg as ProviderAttempt, error, 'final');
  }
}

class ProviderAttempt extends UpstreamLeg implements BackendAttempt {
  private readonly provider: CompiledProvider;
  private readonly pools: UpstreamPools;

  constructor(provider: CompiledProvider, pools: UpstreamPools, states: PodStateTable, listener: LegListener, request: LegRequest) {
    super(providerPoolKey(provider.origin, provider.insecureSkipVerify), states, listener, request, false);
    this.provider = provider;
    this.pools = pools;
  }

  get label(): string {
    return `external provider ${this.provider.key}`;
  }

  start(): void {
    this.dispatch(this.pools.getProvider(this.provider.origin, this.provider.insecureSkipVerify), this.pools.connectionWaitMs);
  }
}

/**
 * A retry's wait for response headers: what is left of the response timeout, rounded up to 1% of it (at least
 * 100 ms), so that retries share a few deadline lists (deadlines.ts keeps one per distinct duration).
 */
export function remainingTimeoutMs(remainingMs: number, timeoutMs: number): number {
  const step = Math.max(100, Math.ceil(timeoutMs / 100));
  return Math.min(timeoutMs, Math.max(step, Math.ceil(remainingMs / step) * step));
}

/**
 * A provider's response headers that describe the provider's site or the router's account there, not anything of the
 * client's: HTTP/3 and HSTS policy of the provider's host (for the client the origin is the router), the provider's
 * cookies (e.g. its CDN's), and the organization and project the router's credential belongs to.
 */
const PROVIDER_ONLY_HEADERS: ReadonlySet<string> = new Set([
  'alt-svc', 'strict-transport-security', 'set-cookie', 'openai-organization', 'openai-project', 'anthropic-organization-id',
]);

/** Retry-After in ms (delta-seconds, fractions allowed, or an HTTP date), or null when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (SECONDS.test(text)) return Math.ceil(Number(text) * 1000);
  if (NUMERIC.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
