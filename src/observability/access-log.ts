// One access-log line per inference request, with Kthena's fields (accesslog/types.go), as JSON (default) or in
// Kthena's text shape, written through pino's asynchronous destination (sonic-boom): a write appends to a buffer
// that is flushed off the request path. Neither prompt text nor headers are ever logged: the path is logged
// without its query, and messages that could quote the body (JSON parse errors) are replaced by a fixed text.
//
// Switchyard adds model_rule (the rule that matched), upstream_pod (the pod whose answer the client got, when a
// retry moved away from selected_pod) and trace_id. Timings, in ms: request processing = receipt → routed and
// scheduled; upstream processing = → the answering pod's response headers (retries included); response
// processing = → the end of the response body.
import { once } from 'node:events';
import { openSync } from 'node:fs';
import pino from 'pino';
import { clientGone, errorOriginOf, errorTypeOf, statusOf } from './error-types.ts';
import { pathOnly, type RequestRecord } from './request-record.ts';
import type { RequestTokens } from './token-estimate.ts';

export type AccessLogFormat = 'json' | 'text';

export interface AccessLogOptions {
  /** "stdout", "stderr" or a file path (appended to; created if missing, in an existing directory). */
  readonly output: string;
  readonly format: AccessLogFormat;
}

export interface AccessLogEntry {
  timestamp: string;
  method: string;
  path: string;
  protocol: string;
  status_code: number;
  error?: { type: string; message: string };
  model_name: string;
  model_route?: string;
  model_rule?: string;
  model_server?: string;
  selected_pod?: string;
  upstream_pod?: string;
  request_id?: string;
  backend_type?: string;
  backend_name?: string;
  upstream_model?: string;
  upstream_status_code?: number;
  upstream_attempts?: number;
  error_origin?: string;
  trace_id?: string;
  input_tokens?: number;
  output_tokens?: number;
  duration_total: number;
  duration_request_processing: number;
  duration_upstream_processing: number;
  duration_response_processing: number;
}

const MAX_VALUE_LENGTH = 256;
/** Lines are dropped (never blocking) once this much is waiting to be written. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;

export function accessLogEntry(record: RequestRecord, tokens: RequestTokens): AccessLogEntry {
  const outcome = record.outcome;
  const errorType = errorTypeOf(record);
  const headersAt = outcome?.headersAt ?? 0;
  const routedAt = record.scheduledAt > 0 ? record.scheduledAt : record.endedAt;
  // Filled in Kthena's field order (JSON keeps insertion order).
  const entry = {
    timestamp: new Date(record.startedAt).toISOString(),
    method: record.method,
    path: clip(pathOnly(record.path)),
    protocol: record.protocol,
    status_code: statusOf(record),
  } as AccessLogEntry;
  if (errorType !== null) entry.error = { type: errorType, message: errorMessage(record) };
  entry.model_name = clip(record.model ?? '');
  if (record.route !== null) entry.model_route = record.route.key;
  if (record.rule !== null) entry.model_rule = record.rule.name;
  if (record.server !== null) entry.model_server = record.server.key;
  const selected = record.scheduled?.[0];
  if (selected !== undefined) entry.selected_pod = selected.name;
  if (outcome?.pod != null && outcome.pod !== selected) entry.upstream_pod = outcome.pod.name;
  entry.request_id = clip(record.requestId);
  if (record.server !== null) {
    entry.backend_type = 'model_server';
    entry.backend_name = record.server.key;
  }
  if (record.upstreamModel !== null) entry.upstream_model = clip(record.upstreamModel);
  if (outcome != null && outcome.upstreamStatus > 0) entry.upstream_status_code = outcome.upstreamStatus;
  if (outcome != null && outcome.attempts > 0) entry.upstream_attempts = outcome.attempts;
  const origin = errorOriginOf(record);
  if (origin !== null) entry.error_origin = origin;
  if (record.traceId !== null) entry.trace_id = record.traceId;
  if (tokens.input > 0) entry.input_tokens = tokens.input;
  if (tokens.output > 0) entry.output_tokens = tokens.output;
  entry.duration_total = ms(record.endedAt - record.receivedAt);
  entry.duration_request_processing = ms(routedAt - record.receivedAt);
  entry.duration_upstream_processing = record.scheduledAt > 0 ? ms((headersAt > 0 ? headersAt : record.endedAt) - record.scheduledAt) : 0;
  entry.duration_response_processing = headersAt > 0 ? ms(record.endedAt - headersAt) : 0;
  return entry;
}

/** Kthena's text shape (accesslog/logger.go formatText), Switchyard's extra fields in their logical places. */
export function formatText(e: AccessLogEntry): string {
  let line = `[${e.timestamp}] "${e.method} ${safe(e.path)} ${e.protocol}" ${e.status_code}`;
  if (e.error !== undefined) line += ` error=${e.error.type}:${safe(e.error.message)}`;
  if (e.model_name !== '') line += ` model_name=${safe(e.model_name)}`;
  if (e.model_route !== undefined) line += ` model_route=${e.model_route}`;
  if (e.model_rule !== undefined) line += ` model_rule=${safe(e.model_rule)}`;
  if (e.model_server !== undefined) line += ` model_server=${e.model_server}`;
  if (e.selected_pod !== undefined) line += ` selected_pod=${e.selected_pod}`;
  if (e.upstream_pod !== undefined) line += ` upstream_pod=${e.upstream_pod}`;
  if (e.request_id !== undefined) line += ` request_id=${safe(e.request_id)}`;
  if (e.backend_type !== undefined) line += ` backend_type=${e.backend_type}`;
  if (e.backend_name !== undefined) line += ` backend_name=${e.backend_name}`;
  if (e.upstream_model !== undefined) line += ` upstream_model=${safe(e.upstream_model)}`;
  if (e.upstream_status_code !== undefined) line += ` upstream_status_code=${e.upstream_status_code}`;
  if (e.upstream_attempts !== undefined) line += ` upstream_attempts=${e.upstream_attempts}`;
  if (e.error_origin !== undefined) line += ` error_origin=${e.error_origin}`;
  if (e.trace_id !== undefined) line += ` trace_id=${e.trace_id}`;
  if (e.input_tokens !== undefined || e.output_tokens !== undefined) line += ` tokens=${e.input_tokens ?? 0}/${e.output_tokens ?? 0}`;
  line += ` timings=${e.duration_total}ms(${e.duration_request_processing}+${e.duration_upstream_processing}+${e.duration_response_processing})`;
  return line;
}

export class AccessLog {
  private readonly destination: ReturnType<typeof pino.destination>;
  private readonly format: AccessLogFormat;
  /** Lines dropped because the output could not keep up, or failed. */
  dropped = 0;
  private closed = false;

  private constructor(destination: ReturnType<typeof pino.destination>, format: AccessLogFormat) {
    this.destination = destination;
    this.format = format;
    destination.on('drop', () => this.dropped++);
    destination.on('error', () => this.dropped++);
  }

  /**
   * Opens the output; throws when a file cannot be opened (the router then does not start). The file is opened
   * here, once, at start-up, so that a bad path is an error before anything is served.
   */
  static open(options: AccessLogOptions): Promise<AccessLog> {
    let fd: number;
    if (options.output === 'stdout') fd = 1;
    else if (options.output === 'stderr') fd = 2;
    else fd = openSync(options.output, 'a');
    const destination = pino.destination({ dest: fd, sync: false, maxLength: MAX_BUFFERED_BYTES });
    return Promise.resolve(new AccessLog(destination, options.format));
  }

  write(record: RequestRecord, tokens: RequestTokens): void {
    if (this.closed) return;
    const entry = accessLogEntry(record, tokens);
    this.destination.write(`${this.format === 'json' ? JSON.stringify(entry) : formatText(entry)}\n`);
  }

  /** Resolves when every line written so far reached the output. */
  flush(): Promise<void> {
    return new Promise((resolve) => this.destination.flush(() => resolve()));
  }

  /** Flushes and closes (stdout and stderr stay open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closed = once(this.destination, 'close');
    this.destination.end();
    await closed;
  }
}

function errorMessage(record: RequestRecord): string {
  const error = record.error;
  if (error === null) return clientGone(record) ? 'client disconnected' : '';
  // JSON.parse's message quotes the body it failed on: never log it.
  if (error.code === 'invalid_json') return 'request body is not valid JSON';
  return clip(error.message);
}

function clip(value: string): string {
  return value.length > MAX_VALUE_LENGTH ? `${value.slice(0, MAX_VALUE_LENGTH)}…` : value;
}

/** Text format: a client-chosen value (model, request id) must not break the line. */
function safe(value: string): string {
  return value.replace(CONTROL_CHARS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function ms(value: number): number {
  return value > 0 ? Math.floor(value) : 0;
}
