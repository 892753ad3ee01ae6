// Passes an upstream Server-Sent-Events stream through while learning token usage, and can hide the
// usage-only event the router asked for on the client's behalf. Chunks go out as they come: only an
// incomplete trailing event is ever held, and only events that carry a usage object are JSON-parsed.
// Holding the incomplete event keeps the client at an event boundary, so a stream that breaks can still
// end with a well-formed error event.
import { lastMemberFromEnd, scanTopLevelMembers } from './json-body.ts';

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

const USAGE_KEY = Buffer.from('"usage"');
/** An `"error"` key with an object value (quotes inside JSON strings are escaped, so this is a key). */
const ERROR_KEY = Buffer.from('"error"');
const MAX_ERROR_MESSAGE = 300;
const LF = 0x0a;
const CR = 0x0d;
// Blank lines that end an event (SSE allows LF, CRLF or CR line endings).
const EVENT_ENDS = [Buffer.from('\n\n'), Buffer.from('\r\n\r\n'), Buffer.from('\r\r')];
const LF_LF = EVENT_ENDS[0];
/** Beyond this, an event that never ends is no longer held or scanned: the tap gives up on usage. */
const MAX_HELD_BYTES = 8 * 1024 * 1024;

export class SseUsageTap {
  private readonly hideUsageOnlyEvents: boolean;
  /** Bytes of the incomplete trailing event (copies), not yet forwarded. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private gaveUp = false;
  private lastUsage: TokenUsage | null = null;
  /** Complete events passed on (an estimate of output tokens when no usage comes). */
  events = 0;
  /**
   * The message of the first error event the upstream sent in its stream (vLLM's `data: {"error": …}`, Anthropic's
   * `event: error`, the Responses API's `response.failed`), or null: the stream was answered with 200, yet failed.
   */
  upstreamError: string | null = null;
  /**
   * The Responses API's response id, read from the first event (response.created) when asked to, and from the event
   * that brings its usage (response.completed).
   */
  responseId: string | null = null;
  /** The first event is still to be read for the response id. */
  private firstEventIdPending: boolean;

  constructor(hideUsageOnlyEvents: boolean, learnResponseId = false) {
    this.hideUsageOnlyEvents = hideUsageOnlyEvents;
    this.firstEventIdPending = learnResponseId;
  }

  /** Last usage seen in the stream. */
  get usage(): TokenUsage | null {
    return this.lastUsage;
  }

  /**
   * Returns the bytes to forward now: `chunk` itself when it ends an event and nothing is hidden or held,
   * a smaller or joined Buffer, or null when nothing is to be forwarded yet.
   */
  push(chunk: Buffer): Buffer | null {
    if (this.gaveUp) return chunk;
    if (chunk.length === 0) return null;
    let data = chunk;
    if (this.heldBytes > 0) {
      // The held event can only end in this chunk if the chunk holds a blank line or starts a line break.
      if (chunk[0] !== LF && chunk[0] !== CR && lastEventEnd(chunk) === 0) return this.holdMore(chunk);
      data = Buffer.concat([...this.held, chunk], this.heldBytes + chunk.length);
      this.release();
    }

    const completeEnd = lastEventEnd(data);
    if (completeEnd > 0) this.events += countEventEnds(data, completeEnd);
    const hidden = completeEnd > 0 ? this.scan(completeEnd === data.length ? data : data.subarray(0, completeEnd), this.hideUsageOnlyEvents) : null;
    if (completeEnd < data.length) this.hold(data.subarray(completeEnd));
    if (hidden === null) return completeEnd === data.length ? data : completeEnd === 0 ? null : data.subarray(0, completeEnd);
    return withoutRanges(data, completeEnd, hidden);
  }

  /**
   * The upstream ended inside an event: what is held is more than blank lines or a `data: [DONE]` that lacks its
   * blank line. Clients drop such an event, so the stream was cut, however cleanly its body ended.
   */
  get endedMidEvent(): boolean {
    if (this.heldBytes === 0 || this.gaveUp) return false;
    const tail = Buffer.concat(this.held, this.heldBytes).toString('utf8').trim();
    return tail !== '' && tail !== 'data: [DONE]' && tail !== 'data:[DONE]';
  }

  /** Upstream ended: returns what is still held (an incomplete last event goes out as is), or null. */
  end(): Buffer | null {
    if (this.heldBytes === 0) return null;
    const tail = Buffer.concat(this.held, this.heldBytes);
    this.release();
    this.scan(tail, false);
    return tail;
  }

  private hold(bytes: Buffer): void {
    this.held.push(Buffer.from(bytes));
    this.heldBytes += bytes.length;
  }

  private holdMore(chunk: Buffer): Buffer | null {
    if (this.heldBytes + chunk.length <= MAX_HELD_BYTES) {
      this.hold(chunk);
      return null;
    }
    const flushed = Buffer.concat([...this.held, chunk]);
    this.release();
    this.gaveUp = true;
    return flushed;
  }

  private release(): void {
    this.held = [];
    this.heldBytes = 0;
  }

  /**
   * Learns usage from the events in `region` (which starts at an event start) and returns the [start, end) pairs
   * of usage-only events to hide, or null. Only events where `"usage"` is followed by an object are parsed.
   */
  private scan(region: Buffer, hide: boolean): number[] | null {
    if (this.upstreamError === null) this.findError(region);
    if (this.firstEventIdPending) {
      // response.created names the response: known even when the stream breaks off (a background response goes on).
      this.firstEventIdPending = false;
      this.inspect(eventData(region.toString('utf8', 0, eventEndAfter(region, 0))));
    }
    // One native search per chunk, nothing allocated: most events carry no usage.
    let hidden: number[] | null = null;
    let from = 0;
    while (true) {
      const key = region.indexOf(USAGE_KEY, from);
      if (key < 0) return hidden;
      from = key + USAGE_KEY.length;
      if (!isFollowedByObject(region, from)) continue;
      const start = eventStartBefore(region, key);
      const end = eventEndAfter(region, from);
      if (this.inspect(eventData(region.toString('utf8', start, end))) && hide) (hidden ??= []).push(start, end);
      from = end;
    }
  }

  private findError(region: Buffer): void {
    let key = region.indexOf(ERROR_KEY);
    // `"error"` may also be a value (Anthropic's "type":"error"): the key is the one followed by an object.
    while (key >= 0 && !isFollowedByObject(region, key + ERROR_KEY.length)) key = region.indexOf(ERROR_KEY, key + ERROR_KEY.length);
    if (key < 0) return;
    const data = eventData(region.toString('utf8', eventStartBefore(region, key), eventEndAfter(region, key)));
    let event: unknown = null;
    try {
      event = data === null ? null : JSON.parse(data);
    } catch {
      // the message stays unknown
    }
    const error = isRecord(event) ? (isRecord(event.error) ? event.error : isRecord(event.response) && isRecord(event.response.error) ? event.response.error : null) : null;
    const message = error !== null && typeof error.message === 'string' && error.message !== '' ? error.message : 'an error event';
    this.upstreamError = message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE)}…` : message;
  }

  /** Records the usage an event's data carries; true when it is a usage-only chat/completions chunk. */
  private inspect(data: string | null): boolean {
    if (data === null) return false;
    let event: unknown;
    try {
      event = JSON.parse(data);
    } catch {
      return false; // not ours to judge: forwarded untouched
    }
    if (!isRecord(event)) return false;
    // Responses API events (response.completed, .incomplete, .failed) carry usage inside `response`, the Messages
    // API's message_start inside `message`; its message_delta then brings the output count alone.
    const usage = tokenUsage(event.usage, this.lastUsage) ?? tokenUsage(nestedUsage(event.response), this.lastUsage) ?? tokenUsage(nestedUsage(event.message), this.lastUsage);
    if (usage !== null) this.lastUsage = usage;
    if (isRecord(event.response) && typeof event.response.id === 'string') this.responseId = event.response.id;
    return isRecord(event.usage) && Array.isArray(event.choices) && event.choices.length === 0;
  }
}

/** A non-streaming answer's top-level `id` (the Responses API's response id), or null. */
export function parseIdFromJsonBody(body: Buffer): string | null {
  const member = scanTopLevelMembers(body)?.members.findLast((m) => m.key === 'id');
  if (member === undefined) return null;
  try {
    const id: unknown = JSON.parse(body.toString('utf8', member.valueStart, member.valueEnd));
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/**
 * Usage of a non-streaming response (chat/completions or Responses API); parses only the `usage` member. Engines
 * put it last, where it is found from the end of the body; otherwise the top-level members are scanned.
 */
export function parseUsageFromJsonBody(body: Buffer): TokenUsage | null {
  let member: { valueStart: number; valueEnd: number } | null | undefined = lastMemberFromEnd(body, USAGE_KEY);
  if (member === null) {
    const object = scanTopLevelMembers(body);
    if (object === null) return null;
    member = object.members.findLast((m) => m.key === 'usage');
    if (member === undefined) return null;
  }
  try {
    return tokenUsage(JSON.parse(body.toString('utf8', member.valueStart, member.valueEnd)));
  } catch {
    return null;
  }
}

/**
 * Reads `prompt_tokens`/`completion_tokens`, or the Responses and Messages APIs' `input_tokens`/`output_tokens`
 * (Messages: input counts its cache reads and writes too). Counts a report leaves out keep their `previous` value.
 */
export function tokenUsage(value: unknown, previous: TokenUsage | null = null): TokenUsage | null {
  if (!isRecord(value)) return null;
  let prompt = count(value.prompt_tokens) ?? count(value.input_tokens);
  const completion = count(value.completion_tokens) ?? count(value.output_tokens);
  if (prompt === undefined && completion === undefined) return null;
  const cacheWrite = count(value.cache_creation_input_tokens);
  const cacheRead = count(value.cache_read_input_tokens);
  if (cacheWrite !== undefined || cacheRead !== undefined) prompt = (prompt ?? 0) + (cacheWrite ?? 0) + (cacheRead ?? 0);
  const promptTokens = prompt ?? previous?.promptTokens ?? 0;
  const completionTokens = completion ?? previous?.completionTokens ?? 0;
  return { promptTokens, completionTokens, totalTokens: count(value.total_tokens) ?? promptTokens + completionTokens };
}

function nestedUsage(value: unknown): unknown {
  return isRecord(value) ? value.usage : undefined;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when `"usage"` is followed by `:` and an object; a line break (multi-line data) also counts, to be safe. */
function isFollowedByObject(buf: Buffer, pos: number): boolean {
  let sawColon = false;
  for (; pos < buf.length; pos++) {
    const byte = buf[pos];
    if (byte === 0x20 || byte === 0x09) continue;
    if (byte === LF || byte === CR) return true;
    if (byte === 0x3a && !sawColon) sawColon = true;
    else return sawColon && byte === 0x7b;
  }
  return false;
}

/** Index just past the last blank line in `buf`, 0 when there is none. */
function lastEventEnd(buf: Buffer): number {
  const n = buf.length;
  // Fast path: engines write whole events, so chunks normally end with the blank line.
  if (n >= 2 && (buf[n - 1] === LF || buf[n - 1] === CR) && buf[n - 2] === buf[n - 1]) return n;
  if (n >= 4 && buf[n - 1] === LF && buf[n - 2] === CR && buf[n - 3] === LF && buf[n - 4] === CR) return n;
  let end = 0;
  for (const blank of EVENT_ENDS) {
    const at = buf.lastIndexOf(blank);
    if (at >= 0) end = Math.max(end, at + blank.length);
  }
  return end;
}

/** Blank lines (LF LF; CRLF CRLF counts once) in `buf[0, end)`: the events that end there. One per event normally. */
function countEventEnds(buf: Buffer, end: number): number {
  let count = 0;
  for (let at = buf.indexOf(LF_LF); at >= 0 && at < end; at = buf.indexOf(LF_LF, at + 2)) count++;
  if (count === 0) for (let at = buf.indexOf(EVENT_ENDS[1]); at >= 0 && at < end; at = buf.indexOf(EVENT_ENDS[1], at + 4)) count++;
  return count === 0 ? 1 : count;
}

/** Start of the event holding `pos`: just past the previous blank line, or 0. */
function eventStartBefore(buf: Buffer, pos: number): number {
  let start = 0;
  for (const blank of EVENT_ENDS) {
    if (pos < blank.length) continue; // a negative offset would count from the end
    const at = buf.lastIndexOf(blank, pos - blank.length);
    if (at >= 0) start = Math.max(start, at + blank.length);
  }
  return start;
}

/** End of the event holding `pos`: just past the next blank line, or the buffer's end. */
function eventEndAfter(buf: Buffer, pos: number): number {
  let end = buf.length;
  for (const blank of EVENT_ENDS) {
    const at = buf.indexOf(blank, pos);
    if (at >= 0) end = Math.min(end, at + blank.length);
  }
  return end;
}

/** The event's `data:` lines joined with LF (SSE field parsing), or null when it has none. */
function eventData(event: string): string | null {
  let data: string | null = null;
  let lineStart = 0;
  while (lineStart < event.length) {
    let lineEnd = lineStart;
    while (lineEnd < event.length && event.charCodeAt(lineEnd) !== LF && event.charCodeAt(lineEnd) !== CR) lineEnd++;
    if (event.startsWith('data', lineStart) && (lineEnd === lineStart + 4 || event[lineStart + 4] === ':')) {
      let valueStart = Math.min(lineStart + 5, lineEnd);
      if (event[valueStart] === ' ' && valueStart < lineEnd) valueStart++;
      const value = event.slice(valueStart, lineEnd);
      data = data === null ? value : `${data}\n${value}`;
    }
    lineStart = lineEnd + (event.charCodeAt(lineEnd) === CR && event.charCodeAt(lineEnd + 1) === LF ? 2 : 1);
  }
  return data;
}

/** `data[0, end)` minus the [start, end) pairs in `ranges`, or null when nothing is left. */
function withoutRanges(data: Buffer, end: number, ranges: readonly number[]): Buffer | null {
  const kept: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    if (ranges[i] > from) kept.push(data.subarray(from, ranges[i]));
    from = ranges[i + 1];
  }
  if (end > from) kept.push(data.subarray(from, end));
  if (kept.length === 0) return null;
  return kept.length === 1 ? kept[0] : Buffer.concat(kept);
}
