// One access-log line per inference request, with Kthena's fields (accesslog/types.go), as JSON (default) or in
// Kthena's text shape. Lines are batched: each is encoded into a 256 KiB buffer that batch-writer.ts appends to the
// output as one write. A file write costs far more than its bytes (it goes through libuv's thread pool: ~200 µs of
// CPU per write measured in `npm run bench`, the router pinned to one core), so writes are rationed: a batch goes
// out at the end of the event-loop turn that started it while writes are rare (a quiet router logs each request at
// once), and at most every WRITE_INTERVAL_MS once they are not (a busy router writes one batch of hundreds of lines
// every 50 ms instead of one write per request). close() (on shutdown) writes everything still waiting, and so does
// an exit of the process without close() (process.exit), synchronously. Neither prompt text nor headers are ever
// logged: the path is logged without its query, and messages that could quote the body (JSON parse errors) are
// replaced by a fixed text.
//
// Switchyard adds model_rule (the rule that matched), upstream_pod (the pod whose answer the client got, when a
// retry moved away from selected_pod), trace_id, user (the authenticated caller) and queue_ms (admission wait).
// Timings, in ms: request processing = receipt → routed and scheduled; upstream processing = → the answering pod's
// response headers (retries included); response processing = → the end of the response body.
import { open, openSync } from 'node:fs';
import { BatchWriter } from './batch-writer.ts';
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
  user?: string;
  queue_ms?: number;
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
/** Sustained rate of writes: at most one per this many ms (the longest a line waits once writes are rationed). */
export const WRITE_INTERVAL_MS = 50;
/** Writes allowed in a burst before the rationing starts. */
const WRITE_BURST = 20;
/** Lines are encoded into buffers of this size (a busy router fills one in ~40 ms); a full one is handed over at once. */
const BATCH_BYTES = 256 * 1024;
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
  } else if (record.provider != null) {
    entry.backend_type = 'external_provider';
    entry.backend_name = record.provider.key;
  }
  if (record.upstreamModel !== null) entry.upstream_model = clip(record.upstreamModel);
  if (outcome != null && outcome.upstreamStatus > 0) entry.upstream_status_code = outcome.upstreamStatus;
  if (outcome != null && outcome.attempts > 0) entry.upstream_attempts = outcome.attempts;
  const origin = errorOriginOf(record);
  if (origin !== null) entry.error_origin = origin;
  if (record.traceId !== null) entry.trace_id = record.traceId;
  if (record.user != null) entry.user = clip(record.user);
  if (record.queueMs !== undefined && record.queueMs >= 0) entry.queue_ms = ms(record.queueMs);
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
  if (e.user !== undefined) line += ` user=${safe(e.user)}`;
  if (e.queue_ms !== undefined) line += ` queue_ms=${e.queue_ms}`;
  if (e.input_tokens !== undefined || e.output_tokens !== undefined) line += ` tokens=${e.input_tokens ?? 0}/${e.output_tokens ?? 0}`;
  line += ` timings=${e.duration_total}ms(${e.duration_request_processing}+${e.duration_upstream_processing}+${e.duration_response_processing})`;
  return line;
}

export class AccessLog {
  private writer: BatchWriter;
  /** Writers replaced by reopen(), still writing what they were given, with their closing (each closed once). */
  private readonly retiring = new Map<BatchWriter, Promise<void>>();
  private readonly output: string;
  private readonly format: AccessLogFormat;
  private closed = false;
  /** Lines not yet handed to the writer, UTF-8 encoded: the first `used` bytes of `batch`, `lines` lines. */
  private batch: Buffer | null = null;
  private used = 0;
  private lines = 0;
  /** The scheduled hand-over of `batch`. */
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Write rationing (a token bucket): writes available now, and when that was computed (performance.now()). */
  private tokens = WRITE_BURST;
  private tokensAt = 0;

  private constructor(writer: BatchWriter, options: AccessLogOptions) {
    this.writer = writer;
    this.output = options.output;
    this.format = options.format;
    process.on('exit', this.flushAtExit);
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
    return Promise.resolve(new AccessLog(newWriter(fd), options));
  }

  /**
   * A file output is opened again by its name (SIGHUP, after logrotate moved it away): lines from now on go to the new
   * file, those already handed over finish in the old one. stdout and stderr stay as they are. Rejects, keeping the
   * current file, when the name cannot be opened.
   */
  async reopen(): Promise<boolean> {
    if (this.closed || this.output === 'stdout' || this.output === 'stderr') return false;
    // A raw descriptor (not a FileHandle, which closes its descriptor when it is garbage-collected).
    const fd = await new Promise<number>((resolve, reject) => open(this.output, 'a', (err, opened) => (err === null ? resolve(opened) : reject(err))));
    if (this.closed) {
      newWriter(fd).close().catch(() => undefined);
      return false;
    }
    this.handOver();
    const previous = this.writer;
    this.writer = newWriter(fd);
    const closing = previous.close().finally(() => this.retiring.delete(previous));
    this.retiring.set(previous, closing);
    await closing;
    return true;
  }

  /** Lines dropped because the output could not keep up, or failed. */
  get dropped(): number {
    return this.writer.dropped;
  }

  write(record: RequestRecord, tokens: RequestTokens): void {
    if (this.closed) return;
    const line = this.format === 'json' ? jsonLine(record, tokens) : `${formatText(accessLogEntry(record, tokens))}\n`;
    const maxBytes = line.length * 3; // UTF-8 bytes per UTF-16 code unit: at most 3
    if (this.batch !== null && this.used + maxBytes > this.batch.length) this.handOver();
    if (maxBytes > BATCH_BYTES) {
      // A line too long for a batch (not seen in practice) goes alone.
      const alone = Buffer.from(line);
      this.writer.enqueue(alone, alone.length, 1);
      return;
    }
    if (this.batch === null) {
      this.batch = this.writer.buffer();
      this.used = 0;
      this.lines = 0;
      this.schedule();
    }
    this.used += this.batch.write(line, this.used);
    this.lines++;
  }

  /** A new batch: hands it over at the end of this event-loop turn if a write is available, else when one is. */
  private schedule(): void {
    const now = performance.now();
    this.tokens = Math.min(WRITE_BURST, this.tokens + (now - this.tokensAt) / WRITE_INTERVAL_MS);
    this.tokensAt = now;
    // Unref'd: an exit without close() writes the batch synchronously (flushAtExit).
    if (this.tokens >= 1) this.immediate = setImmediate(this.handOver).unref();
    else this.timer = setTimeout(this.handOver, Math.ceil((1 - this.tokens) * WRITE_INTERVAL_MS)).unref();
  }

  /** Resolves when every line written so far reached the output. */
  flush(): Promise<void> {
    this.handOver();
    return this.writer.idle();
  }

  /** Flushes and closes (stdout and stderr stay open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.handOver();
    this.closed = true;
    await Promise.all([this.writer.close(), ...this.retiring.values()]);
    process.off('exit', this.flushAtExit); // not before: an exit while the last batches are written still writes them
  }

  /** Hands the waiting lines to the writer as one batch. */
  private readonly handOver = (): void => {
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.batch;
    if (batch === null) return;
    this.batch = null;
    const now = performance.now();
    this.tokens = Math.min(WRITE_BURST, this.tokens + (now - this.tokensAt) / WRITE_INTERVAL_MS) - 1;
    this.tokensAt = now;
    this.writer.enqueue(batch, this.used, this.lines);
  };

  /** The process exits without close(): write what is still waiting, synchronously (no event loop is left). */
  private readonly flushAtExit = (): void => {
    this.handOver();
    for (const retired of this.retiring.keys()) retired.flushSync();
    this.writer.flushSync();
  };
}

function newWriter(fd: number): BatchWriter {
  return new BatchWriter(fd, { ownsFd: fd > 2, batchBytes: BATCH_BYTES, maxQueuedBytes: MAX_BUFFERED_BYTES });
}

/**
 * JSON.stringify(accessLogEntry(record, tokens)) + "\n", byte for byte, without building the entry object: the same
 * fields in the same order, strings quoted by JSON.stringify only when they need escaping.
 */
export function jsonLine(record: RequestRecord, tokens: RequestTokens): string {
  const outcome = record.outcome;
  const errorType = errorTypeOf(record);
  const headersAt = outcome?.headersAt ?? 0;
  const routedAt = record.scheduledAt > 0 ? record.scheduledAt : record.endedAt;
  let line = `{"timestamp":"${isoTimestamp(record.startedAt)}","method":${quote(record.method)},"path":${quote(clip(pathOnly(record.path)))}` +
    `,"protocol":${quote(record.protocol)},"status_code":${number(statusOf(record))}`;
  if (errorType !== null) line += `,"error":{"type":${quote(errorType)},"message":${quote(errorMessage(record))}}`;
  line += `,"model_name":${quote(clip(record.model ?? ''))}`;
  if (record.route !== null) line += `,"model_route":${quote(record.route.key)}`;
  if (record.rule !== null) line += `,"model_rule":${quote(record.rule.name)}`;
  if (record.server !== null) line += `,"model_server":${quote(record.server.key)}`;
  const selected = record.scheduled?.[0];
  if (selected !== undefined) line += `,"selected_pod":${quote(selected.name)}`;
  if (outcome?.pod != null && outcome.pod !== selected) line += `,"upstream_pod":${quote(outcome.pod.name)}`;
  line += `,"request_id":${quote(clip(record.requestId))}`;
  if (record.server !== null) line += `,"backend_type":"model_server","backend_name":${quote(record.server.key)}`;
  else if (record.provider != null) line += `,"backend_type":"external_provider","backend_name":${quote(record.provider.key)}`;
  if (record.upstreamModel !== null) line += `,"upstream_model":${quote(clip(record.upstreamModel))}`;
  if (outcome != null && outcome.upstreamStatus > 0) line += `,"upstream_status_code":${number(outcome.upstreamStatus)}`;
  if (outcome != null && outcome.attempts > 0) line += `,"upstream_attempts":${number(outcome.attempts)}`;
  const origin = errorOriginOf(record);
  if (origin !== null) line += `,"error_origin":"${origin}"`;
  if (record.traceId !== null) line += `,"trace_id":${quote(record.traceId)}`;
  if (record.user != null) line += `,"user":${quote(clip(record.user))}`;
  if (record.queueMs !== undefined && record.queueMs >= 0) line += `,"queue_ms":${number(ms(record.queueMs))}`;
  if (tokens.input > 0) line += `,"input_tokens":${number(tokens.input)}`;
  if (tokens.output > 0) line += `,"output_tokens":${number(tokens.output)}`;
  line += `,"duration_total":${number(ms(record.endedAt - record.receivedAt))}` +
    `,"duration_request_processing":${number(ms(routedAt - record.receivedAt))}` +
    `,"duration_upstream_processing":${record.scheduledAt > 0 ? number(ms((headersAt > 0 ? headersAt : record.endedAt) - record.scheduledAt)) : 0}` +
    `,"duration_response_processing":${headersAt > 0 ? number(ms(record.endedAt - headersAt)) : 0}}\n`;
  return line;
}

/** JSON.stringify(value) for a string: quoted as is unless a character needs escaping. */
function quote(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(value);
  }
  return `"${value}"`;
}

/** JSON.stringify(value) for a number (null when not finite). */
function number(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

/** new Date(time).toISOString(), with the part up to the seconds cached: requests within one second share it. */
let isoSecond = NaN;
let isoPrefix = '';
function isoTimestamp(time: number): string {
  const second = Math.floor(time / 1000);
  if (second !== isoSecond || !Number.isInteger(time)) {
    const iso = new Date(time).toISOString();
    if (!Number.isInteger(time) || iso.length !== 24) return iso;
    isoSecond = second;
    isoPrefix = iso.slice(0, 20);
    return iso;
  }
  const millis = time - second * 1000;
  return `${isoPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
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
