// One raw exchange for the fault suite: write bytes on a fresh connection, read until the router closes it (its
// header, body and keep-alive timeouts bound that; a half-close would count as the client leaving, as in Node).
// Then check that what came back is one well-formed response (or nothing), never two and never a torn one.
import { openSocket, collect } from './support.ts';

export interface RawOutcome {
  data: Buffer;
  /** Responses found, 1xx interim ones excluded. */
  responses: number;
  /** Why the bytes are not well-formed responses; null when they are (or when there are none). */
  malformed: string | null;
}

export async function exchange(url: string, bytes: Uint8Array, timeoutMs = 10_000): Promise<RawOutcome> {
  const socket = await openSocket(url);
  const result = collect(socket, timeoutMs);
  socket.on('error', () => undefined);
  socket.write(bytes);
  const { data } = await result;
  // A response to HEAD declares its length but has no body.
  return { data, ...parseResponses(data, Buffer.from(bytes).subarray(0, 5).toString('latin1') === 'HEAD ') };
}

const STATUS_LINE = /^HTTP\/1\.1 ([1-5]\d\d) [^\r\n]*$/;

/** Splits `data` into responses: status line, headers, a body by content-length or chunked, until the end. */
export function parseResponses(data: Buffer, head = false): { responses: number; malformed: string | null } {
  let pos = 0;
  let responses = 0;
  while (pos < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) return { responses, malformed: `an unterminated head at ${pos}` };
    const lines = data.toString('latin1', pos, headEnd).split('\r\n');
    const status = STATUS_LINE.exec(lines[0]);
    if (status === null) return { responses, malformed: `not a status line: ${JSON.stringify(lines[0].slice(0, 80))}` };
    const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    pos = headEnd + 4;
    if (Number(status[1]) < 200) continue;
    responses++;
    // Answers to HEAD have no body, unless the request was refused before it was parsed as a HEAD.
    if (head && (pos === data.length || data.toString('latin1', pos, pos + 9) === 'HTTP/1.1 ')) continue;
    const length = headers.get('content-length');
    if (length !== undefined) {
      pos += Number(length);
      if (pos > data.length) return { responses, malformed: 'a body shorter than its content-length' };
    } else if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
      while (true) {
        const lineEnd = data.indexOf('\r\n', pos);
        if (lineEnd < 0) return { responses, malformed: 'a torn chunked body' };
        const size = parseInt(data.toString('latin1', pos, lineEnd), 16);
        if (Number.isNaN(size)) return { responses, malformed: 'a bad chunk size line' };
        pos = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      if (pos > data.length) return { responses, malformed: 'a torn chunked body' };
    } else {
      pos = data.length; // delimited by the close
    }
  }
  return { responses, malformed: null };
}
