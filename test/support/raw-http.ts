// Raw HTTP/1.1 over a TCP socket, for what real clients refuse to send: hop-by-hop request headers, invalid
// UTF-8, a body that does not match its content type, a lying content-length. Also parses SSE bodies.
import { connect } from 'node:net';

export interface RawHttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  json(): unknown;
}

/**
 * Sends `head` (request line and headers, without the blank line; content-length is added when a body is given
 * and none is set) and `body`, then reads exactly one response (content-length, chunked, or until close).
 */
export function rawRequest(url: string, head: string, body?: Buffer | string, timeoutMs = 10_000): Promise<RawHttpResponse> {
  const { hostname, port } = new URL(url);
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  let headText = head.replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, '');
  if (body !== undefined && !/^content-length:/im.test(headText) && !/^transfer-encoding:/im.test(headText)) {
    headText += `\r\ncontent-length: ${payload.length}`;
  }
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | null, response?: RawHttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== null) reject(error);
      else resolve(response!);
    };
    const tryParse = (ended: boolean): void => {
      const parsed = parseResponse(Buffer.concat(chunks), ended);
      if (parsed !== null) finish(null, parsed);
      else if (ended) finish(new Error(`connection closed before a complete response (${Buffer.concat(chunks).length} bytes)`));
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('error', (err) => (chunks.length > 0 ? tryParse(true) : finish(err)));
    socket.on('close', () => tryParse(true));
    socket.write(Buffer.concat([Buffer.from(`${headText}\r\n\r\n`, 'latin1'), payload]));
  });
}

/** One response parsed from `data`, or null when more bytes are needed. */
function parseResponse(data: Buffer, ended: boolean): RawHttpResponse | null {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = data.toString('latin1', 0, headEnd).split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  if (status >= 100 && status < 200) return parseResponse(data.subarray(headEnd + 4), ended); // skip 1xx
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const rest = data.subarray(headEnd + 4);
  let body: Buffer | null;
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    body = rest.length >= length ? rest.subarray(0, length) : null;
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    body = decodeChunked(rest);
  } else {
    body = ended ? rest : null;
  }
  if (body === null) return null;
  const text = body.toString('utf8');
  return { status, headers, body, text, json: () => JSON.parse(text) as unknown };
}

function decodeChunked(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let pos = 0;
  while (true) {
    const lineEnd = data.indexOf('\r\n', pos);
    if (lineEnd < 0) return null;
    const size = parseInt(data.toString('latin1', pos, lineEnd), 16);
    if (size === 0) return data.indexOf('\r\n', lineEnd + 2) >= 0 ? Buffer.concat(parts) : null;
    if (data.length < lineEnd + 2 + size + 2) return null;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    pos = lineEnd + 2 + size + 2;
  }
}

/** The `data:` payloads of an SSE body, in order (one per event). */
export function sseData(text: string): string[] {
  const out: string[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const lines = event.split(/\r?\n/).filter((l) => l.startsWith('data:'));
    if (lines.length > 0) out.push(lines.map((l) => l.slice(5).replace(/^ /, '')).join('\n'));
  }
  return out;
}
