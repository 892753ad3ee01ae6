// Header rewriting between client and pod (RFC 9110 §7.6.1): hop-by-hop headers stay on their hop.
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers the router sets itself on the upstream request. */
const REPLACED_UPSTREAM = new Set(['host', 'content-length', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id', 'expect']);

/** Extra hop-by-hop names listed in a Connection header ("keep-alive, x-foo" → {x-foo}). */
function connectionListed(value: string | undefined): Set<string> | null {
  if (value === undefined) return null;
  if (!value.includes(',')) {
    // One token, nearly always "keep-alive" or "close": no list to split.
    const name = value.trim().toLowerCase();
    return name === '' || name === 'close' || HOP_BY_HOP.has(name) ? null : new Set([name]);
  }
  let extra: Set<string> | null = null;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '' || name === 'close' || HOP_BY_HOP.has(name)) continue;
    (extra ??= new Set()).add(name);
  }
  return extra;
}

export interface UpstreamHeaderContext {
  readonly requestId: string;
  /** The client's address, appended to x-forwarded-for. */
  readonly remoteAddress: string | undefined;
  readonly encrypted: boolean;
  /**
   * Ask for an answer without content coding (streams): the SSE usage tap reads the events, so a gzip answer would
   * pass it unread (and an usage-only event the router asked for would reach the client).
   */
  readonly identityEncoding?: boolean;
  /** Lower-case names of client headers not to forward (the caller's credential when it must not reach pods). */
  readonly strip?: readonly string[] | undefined;
}

/** The upstream request's headers as undici's flat [name, value, …] array, built once per client request. */
export function buildUpstreamHeaders(rawHeaders: readonly string[], ctx: UpstreamHeaderContext): string[] {
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let host: string | undefined;
  let forwardedProto: string | undefined;
  let connection: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length === 10 && rawHeaders[i].toLowerCase() === 'connection') connection = rawHeaders[i + 1];
  }
  const listed = connectionListed(connection);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const lower = name.toLowerCase();
    const value = rawHeaders[i + 1];
    if (HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower))) continue;
    if (ctx.identityEncoding === true && lower === 'accept-encoding') continue;
    if (ctx.strip !== undefined && ctx.strip.length > 0 && ctx.strip.includes(lower)) continue;
    if (REPLACED_UPSTREAM.has(lower)) {
      if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (lower === 'host') host = value;
      else if (lower === 'x-forwarded-proto') forwardedProto ??= value;
      continue;
    }
    out.push(name, value);
  }
  if (ctx.remoteAddress !== undefined) {
    forwardedFor = forwardedFor === undefined ? ctx.remoteAddress : `${forwardedFor}, ${ctx.remoteAddress}`;
  }
  if (forwardedFor !== undefined) out.push('x-forwarded-for', forwardedFor);
  if (host !== undefined) out.push('x-forwarded-host', host);
  out.push('x-forwarded-proto', forwardedProto ?? (ctx.encrypted ? 'https' : 'http'));
  out.push('x-request-id', ctx.requestId);
  if (ctx.identityEncoding === true) out.push('accept-encoding', 'identity');
  return out;
}

/** What the router has set on the client's response already (e.g. its rate-limit headers): those win over upstream's. */
export interface RouterSetHeaders {
  hasHeader(name: string): boolean;
}

/**
 * The client response's headers as a flat array: upstream headers minus hop-by-hop, minus those the router set
 * itself (`routerSet`: Node would let the upstream's replace them) and those the backend withholds, plus the request id.
 */
export function buildClientHeaders(
  upstream: IncomingHttpHeaders,
  requestId: string,
  dropContentLength: boolean,
  closeConnection: boolean,
  routerSet: RouterSetHeaders | null = null,
  withheld: ReadonlySet<string> | undefined = undefined,
): string[] {
  const out: string[] = [];
  const connection = upstream['connection'];
  const listed = connectionListed(Array.isArray(connection) ? connection.join(',') : connection);
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower)) || lower === 'x-request-id') continue;
    if (dropContentLength && lower === 'content-length') continue;
    if (routerSet !== null && routerSet.hasHeader(lower)) continue;
    if (withheld !== undefined && withheld.has(lower)) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  out.push('x-request-id', requestId);
  if (closeConnection) out.push('connection', 'close');
  return out;
}
