// Every error the router itself answers with. One catalogue, so status, OpenAI error type and code stay consistent
// and README's error table can be checked against it (see router-error.test.ts).
import type { ServerResponse } from 'node:http';

/** OpenAI's error types; `tokens` is OpenAI's type of a token rate limit (429 rate_limit_exceeded). */
export type OpenAIErrorType = 'invalid_request_error' | 'not_found_error' | 'server_error' | 'timeout_error' | 'tokens';

export interface ErrorCodeSpec {
  readonly status: number;
  readonly type: OpenAIErrorType;
}

export const ERROR_CODES = {
  /** The request itself is malformed: a URL that does not percent-decode, broken chunked framing. */
  bad_request: { status: 400, type: 'invalid_request_error' },
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_body: { status: 400, type: 'invalid_request_error' },
  model_required: { status: 400, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  model_server_not_found: { status: 404, type: 'not_found_error' },
  /** The ExternalModelProvider a route names does not exist. */
  provider_not_found: { status: 404, type: 'not_found_error' },
  /** The provider's API (providerType) has no such path. */
  provider_path_unsupported: { status: 400, type: 'invalid_request_error' },
  /** The provider's credential (spec.auth.secretRef) could not be resolved. */
  provider_not_ready: { status: 503, type: 'server_error' },
  not_found: { status: 404, type: 'not_found_error' },
  /** GET/DELETE /v1/responses/{id} (…/cancel, …/input_items) on a response this router did not relay, or whose pod is gone. */
  response_not_found: { status: 404, type: 'invalid_request_error' },
  /** The replicas' shared record of stored responses (Redis) did not answer: which pod stores one is unknown. */
  response_index_unavailable: { status: 503, type: 'server_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  /** The client did not send its headers (--header-timeout) or its body (--body-timeout) in time. */
  request_timeout: { status: 408, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  /** An `Expect` header other than 100-continue. */
  expectation_failed: { status: 417, type: 'invalid_request_error' },
  /** No credential, or one the authenticator refused (answered with WWW-Authenticate). */
  unauthorized: { status: 401, type: 'invalid_request_error' },
  /** The route's token bucket (ModelRoute spec.rateLimit) has no room; answered with Retry-After. */
  rate_limit_exceeded: { status: 429, type: 'tokens' },
  /** The shared (Redis) rate-limit store is unreachable and --rate-limit-failure-mode is closed. */
  rate_limit_unavailable: { status: 503, type: 'server_error' },
  /** Waited in the fairness queue past its timeout; nothing upstream timed out, so 503 with Retry-After (not 504). */
  queue_timeout: { status: 503, type: 'server_error' },
  uri_too_long: { status: 414, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  no_ready_pods: { status: 503, type: 'server_error' },
  /** The scheduler's filters removed every pod (e.g. all have too many requests waiting). */
  pods_overloaded: { status: 503, type: 'server_error' },
  not_ready: { status: 503, type: 'server_error' },
  /** The router is shutting down: a new request is refused (Retry-After), a stream cut at the drain timeout ends with it. */
  draining: { status: 503, type: 'server_error' },
  /** PD-disaggregated ModelServer: no group has both a ready prefill pod and a ready decode pod. */
  no_pd_pair: { status: 503, type: 'server_error' },
  upstream_unavailable: { status: 502, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'timeout_error' },
  /** Every tried pod had all its connections busy for longer than --upstream-connection-wait; answered with Retry-After. */
  upstream_busy: { status: 503, type: 'server_error' },
  upstream_stream_error: { status: 502, type: 'server_error' },
  /** A pod's answer broke the PD protocol (e.g. a nixl prefill answer without kv_transfer_params). */
  upstream_protocol_error: { status: 502, type: 'server_error' },
  internal_error: { status: 500, type: 'server_error' },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

const NO_HEADERS: readonly string[] = Object.freeze([]);

export class RouterError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: OpenAIErrorType;
  /** Extra response headers as name/value pairs, e.g. WWW-Authenticate or Retry-After. */
  readonly headers: readonly string[];

  constructor(code: ErrorCode, message: string, headers: readonly string[] = NO_HEADERS) {
    super(message);
    this.name = 'RouterError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.type = ERROR_CODES[code].type;
    this.headers = headers;
  }

  /**
   * OpenAI's body {"error":{"message","type","param","code"}}, or for Anthropic's Messages API its own
   * {"type":"error","error":{"type","message"}} (its SDK reads that shape).
   */
  toBody(dialect: ErrorDialect = 'openai'): string {
    return dialect === 'anthropic' ? anthropicErrorBody(this.message, anthropicErrorType(this.status)) : errorBody(this.message, this.type, this.code);
  }

  /** The one SSE event that ends a stream already under way with this error (Anthropic's has `event: error`). */
  toSseEvent(dialect: ErrorDialect = 'openai'): string {
    return dialect === 'anthropic' ? `event: error\ndata: ${this.toBody('anthropic')}\n\n` : `data: ${this.toBody()}\n\n`;
  }
}

/** Whose error shape a request gets: Anthropic's for its Messages API (and count_tokens), OpenAI's for the rest. */
export type ErrorDialect = 'openai' | 'anthropic';

const MESSAGES_PATH = '/v1/messages';

/** The dialect of a request by its URL (`res.req.url`); only error paths ask. */
export function errorDialectOf(url: string | undefined): ErrorDialect {
  if (url === undefined || !url.startsWith(MESSAGES_PATH)) return 'openai';
  const next = url.charCodeAt(MESSAGES_PATH.length);
  // "/v1/messages", "/v1/messages?…", "/v1/messages/count_tokens"; not "/v1/messagesX".
  return Number.isNaN(next) || next === 0x3f || next === 0x2f ? 'anthropic' : 'openai';
}

export function errorBody(message: string, type: string, code: string): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

export function anthropicErrorBody(message: string, type: string): string {
  return JSON.stringify({ type: 'error', error: { type, message } });
}

/** Anthropic's error type for a status (docs.claude.com/en/api/errors); 503 is its "overloaded", 504 its "timeout". */
function anthropicErrorType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
    default:
      return status < 500 ? 'invalid_request_error' : 'api_error';
  }
}

/** Answers `error` as the whole response: its status and body (in the request's dialect), the request id, and close when draining. */
export function writeErrorResponse(res: ServerResponse, error: RouterError, requestId: string, close: boolean): void {
  const body = error.toBody(errorDialectOf((res.req as { url?: string } | undefined)?.url));
  const headers = ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)), 'x-request-id', requestId];
  if (error.headers.length > 0) headers.push(...error.headers);
  if (close) headers.push('connection', 'close');
  res.writeHead(error.status, headers);
  res.end(body);
}
