// W3C Trace Context (https://www.w3.org/TR/trace-context/) on the upstream request, so that engine traces join the
// caller's: a valid `traceparent` (and its `tracestate`) passes through unchanged (the router takes no part in the
// trace); when the client sent none, or an invalid one, a new one is created — random trace id and parent id,
// flags 01 (sampled: engines that sample by parent still record it) — and any `tracestate` is dropped with it.
import { randomFillSync } from 'node:crypto';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
/** version-traceid-parentid-flags; a later version may append "-…" fields. */
const TRACEPARENT_FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_PARENT_ID = '0'.repeat(16);

/** Random bytes drawn in bulk: one fill serves 170 ids. */
const pool = Buffer.alloc(24 * 170);
let poolOffset = pool.length;

/** The trace id of a valid traceparent value, else null. */
export function traceIdOf(value: string): string | null {
  const m = TRACEPARENT_FORMAT.exec(value);
  if (m === null) return null;
  const [, version, traceId, parentId, , rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_PARENT_ID) return null;
  return traceId;
}

/** A new traceparent: version 00, random ids, sampled. */
export function newTraceparent(): string {
  let traceId: string;
  let parentId: string;
  do {
    if (poolOffset + 24 > pool.length) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    traceId = pool.toString('hex', poolOffset, poolOffset + 16);
    parentId = pool.toString('hex', poolOffset + 16, poolOffset + 24);
    poolOffset += 24;
  } while (traceId === ZERO_TRACE_ID || parentId === ZERO_PARENT_ID);
  return `00-${traceId}-${parentId}-01`;
}

/** ensureTraceContext, returning the list (for call sites that build headers inline). */
export function withTraceContext(headers: string[]): string[] {
  ensureTraceContext(headers);
  return headers;
}

/**
 * Makes the flat upstream header list [name, value, …] carry a valid traceparent; returns its trace id.
 * Several traceparent headers count as invalid (the spec's rule for a repeated header).
 */
export function ensureTraceContext(headers: string[]): string {
  let at = -1;
  let count = 0;
  let hasState = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === 11 && name.toLowerCase() === TRACEPARENT) {
      at = i;
      count++;
    } else if (name.length === 10 && name.toLowerCase() === TRACESTATE) {
      hasState = true;
    }
  }
  if (count === 1) {
    const traceId = traceIdOf(headers[at + 1].trim());
    if (traceId !== null) return traceId;
  }
  if (count > 0 || hasState) {
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      const lower = headers[i].toLowerCase();
      if (lower === TRACEPARENT || lower === TRACESTATE) headers.splice(i, 2);
    }
  }
  const value = newTraceparent();
  headers.push(TRACEPARENT, value);
  return value.slice(3, 35);
}
