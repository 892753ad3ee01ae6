// The router's error codes in Kthena's vocabulary: the access log's error.type and error_origin, and the metrics'
// error_type label (Kthena's "finish reason"). Kthena's values are kept so that dashboards and alerts written for
// kthena_router_* keep working:
//
//   invalid_json, invalid_body, model_required, request_too_large,
//   bad_request, request_timeout, uri_too_long, headers_too_large      → request_parsing
//   model_not_found, not_found, response_not_found                      → route_not_found
//   not_ready (no configuration yet)                                   → model_route_matching
//   model_server_not_found, no_ready_pods, response_index_unavailable  → pod_discovery
//   pods_overloaded (filters removed every pod), no_pd_pair            → scheduling
//   provider_not_found, provider_not_ready                             → provider_discovery
//   provider_path_unsupported                                          → external_provider_proxy
//   upstream_unavailable, upstream_timeout, upstream_stream_error,
//   upstream_protocol_error, upstream_busy                             → proxy
//   rate_limit_exceeded, rate_limit_unavailable                        → rate_limit
//   queue_timeout                                                      → scheduling
//   unauthorized (Kthena logs no error type for its 401)               → request_failed
//   draining (shutting down)                                           → request_failed
//   internal_error, and any code added later without a mapping         → request_failed
//
// Without a router error the metrics' error_type is successful_request below status 400 and request_failed from
// 400 on (an upstream answer passed through, e.g. vLLM's 400), as in Kthena. A client that went away before its
// response ended is error_type client_disconnected with status_code 499 (Switchyard only; Kthena cannot tell).
import type { ErrorCode } from '../errors/router-error.ts';
import type { RequestRecord } from './request-record.ts';

export const SUCCESSFUL_REQUEST = 'successful_request';
export const REQUEST_FAILED = 'request_failed';
export const CLIENT_DISCONNECTED = 'client_disconnected';
/** Status label and access-log status of a request whose client went away (nginx's convention). */
export const CLIENT_CLOSED_STATUS = 499;

export const ERROR_TYPES: Readonly<Partial<Record<ErrorCode, string>>> = {
  invalid_json: 'request_parsing',
  invalid_body: 'request_parsing',
  model_required: 'request_parsing',
  request_too_large: 'request_parsing',
  bad_request: 'request_parsing',
  request_timeout: 'request_parsing',
  uri_too_long: 'request_parsing',
  headers_too_large: 'request_parsing',
  expectation_failed: 'request_parsing',
  model_not_found: 'route_not_found',
  response_not_found: 'route_not_found',
  response_index_unavailable: 'pod_discovery',
  not_found: 'route_not_found',
  method_not_allowed: 'route_not_found',
  not_ready: 'model_route_matching',
  model_server_not_found: 'pod_discovery',
  no_ready_pods: 'pod_discovery',
  pods_overloaded: 'scheduling',
  no_pd_pair: 'scheduling',
  provider_not_found: 'provider_discovery',
  provider_not_ready: 'provider_discovery',
  provider_path_unsupported: 'external_provider_proxy',
  upstream_unavailable: 'proxy',
  upstream_timeout: 'proxy',
  upstream_busy: 'proxy',
  upstream_stream_error: 'proxy',
  upstream_protocol_error: 'proxy',
  rate_limit_exceeded: 'rate_limit',
  rate_limit_unavailable: 'rate_limit',
  queue_timeout: 'scheduling',
  unauthorized: REQUEST_FAILED,
  internal_error: REQUEST_FAILED,
  draining: REQUEST_FAILED,
};

/** Error codes caused by the upstream (the rest are the router's own refusals). */
const UPSTREAM_CODES: ReadonlySet<string> = new Set(['upstream_unavailable', 'upstream_timeout', 'upstream_stream_error', 'upstream_protocol_error']);

export function clientGone(record: RequestRecord): boolean {
  return record.status === 0 || record.outcome?.clientAborted === true;
}

/** Kthena's error type of a failed request (access log error.type), or null when it did not fail. */
export function errorTypeOf(record: RequestRecord): string | null {
  if (record.error !== null) return ERROR_TYPES[record.error.code] ?? REQUEST_FAILED;
  if (clientGone(record)) return CLIENT_DISCONNECTED;
  return null;
}

/** The metrics' error_type label. */
export function finishReasonOf(record: RequestRecord): string {
  return errorTypeOf(record) ?? (record.status >= 400 ? REQUEST_FAILED : SUCCESSFUL_REQUEST);
}

/** access log error_origin: "router" or "upstream" for failures, null otherwise (and for client disconnects). */
export function errorOriginOf(record: RequestRecord): 'router' | 'upstream' | null {
  if (record.error !== null) return UPSTREAM_CODES.has(record.error.code) ? 'upstream' : 'router';
  if (!clientGone(record) && record.status >= 400 && record.outcome !== null && record.outcome.upstreamStatus >= 400) return 'upstream';
  return null;
}

/** The status reported for the request: what the client got, or 499 when it went away. */
export function statusOf(record: RequestRecord): number {
  return clientGone(record) ? CLIENT_CLOSED_STATUS : record.status;
}
