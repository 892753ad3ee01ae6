// Edits top-level members of a JSON object body by splicing byte ranges, so the proxy hot path
// serialises only the values it changes instead of re-stringifying the whole (often 20 KB+) body.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE_PROBE_BYTES = 16;

/** Byte spans of one top-level member; `keyStart` is its opening quote, `valueEnd` is exclusive. */
export interface TopLevelMember {
  /** Decoded key (`"mod\u0065l"` is `model`). */
  key: string;
  keyStart: number;
  valueStart: number;
  valueEnd: number;
}

export interface TopLevelObject {
  /** In document order; duplicates are kept (JSON.parse lets the last one win). */
  members: TopLevelMember[];
  closeBrace: number;
}

/**
 * Set a key to `JSON.stringify(value)` (an unserialisable value such as `undefined` removes it), set it to JSON text
 * given as is (`json`, trusted to be valid), or remove it.
 */
export type BodyEdit = { key: string; value: unknown } | { key: string; json: string } | { key: string; remove: true };

/**
 * Locates the top-level members of a JSON object. Meant for bodies already validated by JSON.parse;
 * returns null when the top level is not an object or the structure is visibly broken.
 */
export function scanTopLevelMembers(body: Buffer): TopLevelObject | null {
  const layout = scanLayout(body);
  if (layout === null) return null;
  const members: TopLevelMember[] = [];
  const { spans } = layout;
  for (let i = 0; i < spans.length; i += SPAN) {
    const key = decodeKey(body, spans[i + KEY_START], spans[i + KEY_END]);
    if (key === null) return null;
    members.push({ key, keyStart: spans[i + KEY_START], valueStart: spans[i + VALUE_START], valueEnd: spans[i + VALUE_END] });
  }
  return { members, closeBrace: layout.closeBrace };
}

/**
 * The value span of `quotedKey` (e.g. `"usage"` as bytes) when that member is the last one of the body's top-level
 * object, found from the end of the body without scanning it; null when the body does not end that way (then
 * scanTopLevelMembers is the way). Engines put `usage` last in their answers, so this finds it in the common case.
 * For a body that is valid JSON the span is the one scanTopLevelMembers gives for the last member with that key:
 * the key is outside any string (a quote inside a string follows a backslash, and this key follows `{` or `,`), and
 * the object it closes with the body's final `}` is the top-level one.
 */
export function lastMemberFromEnd(body: Buffer, quotedKey: Buffer): { valueStart: number; valueEnd: number } | null {
  let closeBrace = body.length - 1;
  while (closeBrace >= 0 && isWhitespace(body[closeBrace])) closeBrace--;
  if (closeBrace < 0 || body[closeBrace] !== CLOSE_BRACE || body[skipWhitespace(body, 0)] !== OPEN_BRACE) return null;
  const keyStart = body.lastIndexOf(quotedKey, closeBrace);
  if (keyStart <= 0) return null;
  let before = keyStart - 1;
  while (before > 0 && isWhitespace(body[before])) before--;
  if (body[before] !== COMMA && body[before] !== OPEN_BRACE) return null;
  const colon = skipWhitespace(body, keyStart + quotedKey.length);
  if (body[colon] !== COLON) return null;
  const valueStart = skipWhitespace(body, colon + 1);
  const valueEnd = skipValue(body, valueStart);
  if (valueEnd < 0 || skipWhitespace(body, valueEnd) !== closeBrace) return null;
  return { valueStart, valueEnd };
}

/**
 * Applies edits with JSON.parse semantics: every member with an edited key is replaced or removed
 * (duplicates included); a set key that is absent is appended after the last kept member.
 * When several edits name the same key, the last one wins. Returns `body` itself when nothing changes.
 * Throws a TypeError when the top level is not a JSON object.
 */
export function editTopLevel(body: Buffer, edits: readonly BodyEdit[]): Buffer {
  if (edits.length === 0) return body;
  const layout = scanLayout(body);
  if (layout === null) throw new TypeError('JSON body is not an object');
  const { spans, closeBrace } = layout;

  // One entry per distinct key, the last edit winning; `value` null means remove.
  const keys: string[] = [];
  const values: (string | null)[] = [];
  for (const edit of edits) {
    const value = 'remove' in edit ? null : 'json' in edit ? edit.json : serialise(edit.value);
    const at = keys.indexOf(edit.key);
    if (at >= 0) values[at] = value;
    else {
      keys.push(edit.key);
      values.push(value);
    }
  }

  // Which edit (index into keys, -1 for none) applies to each member.
  const memberCount = spans.length / SPAN;
  const editOf: number[] = [];
  const present: boolean[] = keys.map(() => false);
  let lastKept = -1;
  for (let m = 0; m < memberCount; m++) {
    const e = matchKey(body, spans[m * SPAN + KEY_START], spans[m * SPAN + KEY_END], keys);
    editOf.push(e);
    if (e >= 0) present[e] = true;
    if (e < 0 || values[e] !== null) lastKept = m;
  }

  const out = new Splice(body);
  const appendAt = lastKept >= 0 ? spans[lastKept * SPAN + VALUE_END] : closeBrace;
  for (let m = 0; m < memberCount; m++) {
    const e = editOf[m];
    if (e < 0) continue;
    const at = m * SPAN;
    const value = values[e];
    if (value !== null) {
      out.copyUpTo(spans[at + VALUE_START]);
      out.insert(value);
      out.skipTo(spans[at + VALUE_END]);
    } else if (m < lastKept) {
      // Drop the member and the comma after it: the next member starts where this one did.
      out.copyUpTo(spans[at + KEY_START]);
      out.skipTo(spans[at + SPAN + KEY_START]);
    } else {
      // Nothing kept after it: drop the comma before it instead (none if nothing is kept at all).
      out.copyUpTo(lastKept >= 0 ? appendAt : spans[KEY_START]);
      out.skipTo(spans[at + VALUE_END]);
    }
  }

  out.copyUpTo(appendAt);
  let needsComma = lastKept >= 0;
  for (let e = 0; e < keys.length; e++) {
    const value = values[e];
    if (value === null || present[e]) continue;
    out.insert(`${needsComma ? ',' : ''}${JSON.stringify(keys[e])}:${value}`);
    needsComma = true;
  }
  out.copyUpTo(body.length);
  return out.result();
}

/**
 * The edit that makes `stream_options.include_usage` true while keeping the client's other stream
 * options, or null when the client already asked for usage.
 */
export function includeUsageEdit(parsedBody: Readonly<Record<string, unknown>>): BodyEdit | null {
  const current = parsedBody.stream_options;
  const options = typeof current === 'object' && current !== null && !Array.isArray(current) ? (current as Record<string, unknown>) : {};
  if (options.include_usage === true) return null;
  return { key: 'stream_options', value: { ...options, include_usage: true } };
}

// ---- scanning ------------------------------------------------------------------------------------

/** Members are stored flat, four offsets each, to keep the scan allocation-free per member. */
const SPAN = 4;
const KEY_START = 0;
const KEY_END = 1; // exclusive, past the closing quote
const VALUE_START = 2;
const VALUE_END = 3;

interface Layout {
  spans: number[];
  closeBrace: number;
}

function scanLayout(body: Buffer): Layout | null {
  const openBrace = skipWhitespace(body, 0);
  if (body[openBrace] !== OPEN_BRACE) return null;
  const spans: number[] = [];
  let pos = skipWhitespace(body, openBrace + 1);
  if (body[pos] === CLOSE_BRACE) return { spans, closeBrace: pos };
  while (true) {
    if (body[pos] !== QUOTE) return null;
    const keyStart = pos;
    const keyEnd = skipString(body, keyStart);
    if (keyEnd < 0) return null;
    pos = skipWhitespace(body, keyEnd);
    if (body[pos] !== COLON) return null;
    const valueStart = skipWhitespace(body, pos + 1);
    const valueEnd = skipValue(body, valueStart);
    if (valueEnd < 0) return null;
    spans.push(keyStart, keyEnd, valueStart, valueEnd);
    pos = skipWhitespace(body, valueEnd);
    if (body[pos] === CLOSE_BRACE) return { spans, closeBrace: pos };
    if (body[pos] !== COMMA) return null;
    pos = skipWhitespace(body, pos + 1);
  }
}

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function skipWhitespace(buf: Buffer, pos: number): number {
  while (pos < buf.length && isWhitespace(buf[pos])) pos++;
  return pos;
}

/** Index just past the closing quote of the string opened at `openQuote`, or -1 when unterminated. */
function skipString(buf: Buffer, openQuote: number): number {
  let from = openQuote + 1;
  while (true) {
    const quote = findQuote(buf, from);
    if (quote < 0) return -1;
    // The quote is escaped iff an odd number of backslashes precede it; the opening quote stops the count.
    let backslashes = 0;
    for (let i = quote - 1; buf[i] === BACKSLASH; i--) backslashes++;
    if ((backslashes & 1) === 0) return quote + 1;
    from = quote + 1;
  }
}

/**
 * Index of the next quote at or after `from`, or -1. Buffer.indexOf costs ~25 ns per call whatever the
 * distance, so the first few bytes are probed in JS: keys, short values and the closing quote of an
 * escaped `\"word\"` are found there; long runs still go to the native search.
 */
function findQuote(buf: Buffer, from: number): number {
  const probeEnd = Math.min(buf.length, from + QUOTE_PROBE_BYTES);
  for (let i = from; i < probeEnd; i++) if (buf[i] === QUOTE) return i;
  return buf.indexOf(QUOTE, probeEnd);
}

/** Index just past the value starting at `start`, or -1. */
function skipValue(buf: Buffer, start: number): number {
  const first = buf[start];
  if (first === QUOTE) return skipString(buf, start);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) return skipContainer(buf, start);
  // Number or literal: runs up to the next delimiter.
  let pos = start;
  while (pos < buf.length) {
    const byte = buf[pos];
    if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isWhitespace(byte)) break;
    pos++;
  }
  return pos === start ? -1 : pos;
}

function skipContainer(buf: Buffer, start: number): number {
  let depth = 0;
  let pos = start;
  while (pos < buf.length) {
    const byte = buf[pos];
    if (byte === QUOTE) {
      pos = skipString(buf, pos);
      if (pos < 0) return -1;
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && --depth === 0) return pos + 1;
    pos++;
  }
  return -1;
}

// ---- keys ----------------------------------------------------------------------------------------

/** Index in `keys` of the key written at [keyStart, keyEnd), or -1. Decodes only escaped or non-ASCII keys. */
function matchKey(body: Buffer, keyStart: number, keyEnd: number, keys: readonly string[]): number {
  const first = keyStart + 1;
  const length = keyEnd - 1 - first;
  for (let i = first; i < first + length; i++) {
    if (body[i] === BACKSLASH || body[i] >= 0x80) {
      const decoded = decodeKey(body, keyStart, keyEnd);
      return decoded === null ? -1 : keys.indexOf(decoded);
    }
  }
  // Plain ASCII: the bytes are the key's characters.
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    if (key.length !== length) continue;
    let i = 0;
    while (i < length && body[first + i] === key.charCodeAt(i)) i++;
    if (i === length) return k;
  }
  return -1;
}

function decodeKey(buf: Buffer, keyStart: number, keyEnd: number): string | null {
  const raw = buf.toString('utf8', keyStart + 1, keyEnd - 1);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(buf.toString('utf8', keyStart, keyEnd)) as string;
  } catch {
    return null;
  }
}

// ---- output --------------------------------------------------------------------------------------

function serialise(value: unknown): string | null {
  // JSON.stringify returns undefined for undefined, functions and symbols: the key then disappears, as it would from an object.
  const text = JSON.stringify(value) as string | undefined;
  return text ?? null;
}

/** Collects copied ranges of the source and inserted text, then writes them into one Buffer. */
class Splice {
  private readonly source: Buffer;
  /** Source ranges as [start, end] number pairs, inserted text as strings. */
  private readonly parts: (number | string)[] = [];
  private cursor = 0;
  private changed = false;

  constructor(source: Buffer) {
    this.source = source;
  }

  copyUpTo(end: number): void {
    if (end <= this.cursor) return;
    this.parts.push(this.cursor, end);
    this.cursor = end;
  }

  skipTo(end: number): void {
    if (end <= this.cursor) return;
    this.cursor = end;
    this.changed = true;
  }

  insert(text: string): void {
    this.parts.push(text);
    this.changed = true;
  }

  result(): Buffer {
    if (!this.changed) return this.source;
    const { parts, source } = this;
    let length = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (typeof part === 'string') length += Buffer.byteLength(part);
      else length += (parts[++i] as number) - part;
    }
    const out = Buffer.allocUnsafe(length);
    let offset = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (typeof part === 'string') offset += out.write(part, offset);
      else offset += source.copy(out, offset, part, parts[++i] as number);
    }
    return out;
  }
}
