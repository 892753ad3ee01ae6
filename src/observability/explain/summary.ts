// The short form of an explanation, for the x-switchyard-explain response header: compact JSON (default) or one
// line of text, ASCII only and kept under MAX_SUMMARY_LENGTH by dropping detail (scores first) when needed.
import type { ServerResponse } from 'node:http';
import type { RouterError } from '../../errors/router-error.ts';
import type { DecisionRecorder } from './decision-recorder.ts';
import type { Explanation } from './explanation.ts';

export const EXPLAIN_HEADER = 'x-switchyard-explain';
export const MAX_SUMMARY_LENGTH = 4000;
const MAX_LISTED = 8;
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/g;

export type SummaryFormat = 'json' | 'text';

/** The format the client asked for with x-switchyard-explain ("1", "true", "json" or "text"), or null. */
export function explainRequested(rawHeaders: readonly string[]): SummaryFormat | null {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length !== EXPLAIN_HEADER.length || name.toLowerCase() !== EXPLAIN_HEADER) continue;
    const value = rawHeaders[i + 1].trim().toLowerCase();
    if (value === '1' || value === 'true' || value === 'json') return 'json';
    if (value === 'text') return 'text';
  }
  return null;
}

/** On a live request: the decision's summary in the x-switchyard-explain response header (when asked for). */
export function setExplainHeader(res: ServerResponse, trace: DecisionRecorder | null, format: SummaryFormat | null, error: RouterError | null): void {
  if (trace === null || format === null || res.headersSent) return;
  res.setHeader(EXPLAIN_HEADER, summarize(trace.finish(error), format));
}

export function summarize(e: Explanation, format: SummaryFormat): string {
  return ascii(format === 'json' ? summaryJson(e) : summaryText(e));
}

function summaryJson(e: Explanation): string {
  const skipped = e.rules.filter((r) => !r.matched).map((r) => `${r.route}#${r.rule}: ${r.failed?.condition ?? '?'}`);
  const s: Record<string, unknown> = { decision: e.decision };
  if (e.error !== null) s.error = e.error.code;
  s.route = e.route;
  s.rule = e.rule;
  if (skipped.length > 0) s.skipped = skipped;
  s.target = e.target?.key ?? null;
  if (e.weights !== null && e.weights.length > 1) s.wrr = Object.fromEntries(e.weights.map((w) => [w.target, [w.weight, w.current, w.next]]));
  s.pod = e.pod;
  const candidates = e.scheduling?.candidates ?? [];
  const removed = candidates.filter((c) => c.removedBy !== null);
  if (removed.length > 0) s.removed = Object.fromEntries(removed.map((c) => [c.pod, c.removedBy]));
  if (e.scheduling !== null) s.order = e.scheduling.order;
  const scored = candidates.filter((c) => c.total !== null);
  if (scored.length > 0) s.totals = Object.fromEntries(scored.map((c) => [c.pod, Math.round(c.total! * 100) / 100]));
  let text = JSON.stringify(s);
  // Too long: drop detail, then cut the lists.
  for (const key of ['totals', 'removed', 'wrr']) {
    if (text.length <= MAX_SUMMARY_LENGTH) return text;
    delete s[key];
    s.truncated = true;
    text = JSON.stringify(s);
  }
  if (text.length > MAX_SUMMARY_LENGTH) {
    if (Array.isArray(s.order)) s.order = s.order.slice(0, MAX_LISTED);
    if (Array.isArray(s.skipped)) s.skipped = s.skipped.slice(0, MAX_LISTED);
    text = JSON.stringify(s);
  }
  return text.length > MAX_SUMMARY_LENGTH ? JSON.stringify({ decision: e.decision, route: e.route, rule: e.rule, target: s.target, pod: e.pod, truncated: true }).slice(0, MAX_SUMMARY_LENGTH) : text;
}

function summaryText(e: Explanation): string {
  const parts = [`decision=${e.decision}`];
  if (e.error !== null) parts.push(`error=${e.error.code}`);
  parts.push(`route=${e.route ?? '-'}`, `rule=${e.rule ?? '-'}`, `target=${e.target?.key ?? '-'}`, `pod=${e.pod ?? '-'}`);
  const skipped = e.rules.filter((r) => !r.matched).slice(0, MAX_LISTED);
  if (skipped.length > 0) parts.push(`skipped=${skipped.map((r) => `${r.route}#${r.rule}(${r.failed?.condition ?? '?'})`).join(',')}`);
  const order = e.scheduling?.order ?? [];
  if (order.length > 0) parts.push(`order=${order.slice(0, MAX_LISTED).join(',')}`);
  const text = parts.join(' ');
  return text.length > MAX_SUMMARY_LENGTH ? text.slice(0, MAX_SUMMARY_LENGTH) : text;
}

/** Header values must be ASCII without control characters: escape the rest as \uXXXX (JSON-compatible). */
function ascii(text: string): string {
  return text.replace(NOT_PRINTABLE_ASCII, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
