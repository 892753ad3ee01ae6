// Node's 'clientError' on the main listener: bytes that do not parse as HTTP, headers or a body that did not arrive
// in time, headers too large, a TLS handshake that failed or timed out (closed, nothing else; plain HTTP sent to the
// HTTPS listener gets a plain 400 saying so, as nginx answers it). Whatever happens, never two responses on one
// connection: when a response is already under way the connection is only closed once it ends; when the broken request is the one being read, the request
// pipeline answers it (and logs it); otherwise one raw answer is written and the connection closed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { RouterError } from '../errors/router-error.ts';
import { abandonBodyRead, failBodyRead } from './read-body.ts';

export interface ClientErrorContext {
  /** The request and response now on this connection, if any. */
  current(socket: Duplex): { req: IncomingMessage | null; res: ServerResponse | null };
  maxUrlBytes(): number;
  /** Answer `error` on `res` (a response not started yet) and close the connection after it. */
  answer(res: ServerResponse, error: RouterError): void;
  /** A request refused before Node made it a request: log it (and access-log it). */
  refusedRaw(error: RouterError, requestLine: string | null, cause: string): void;
  /** Something worth a log line that is no response of its own. */
  note(message: string, cause: string): void;
}

type ClientError = Error & { code?: string; reason?: string; rawPacket?: Buffer };

const PLAIN_HTTP_ERROR = new RouterError('bad_request', 'a plain HTTP request was sent to the HTTPS port: use https://');
const PLAIN_HTTP_BODY = PLAIN_HTTP_ERROR.toBody();
const PLAIN_HTTP_ANSWER = `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(PLAIN_HTTP_BODY)}\r\n` +
  `connection: close\r\n\r\n${PLAIN_HTTP_BODY}`;

/**
 * The client spoke plain HTTP to the HTTPS listener (OpenSSL recognised an HTTP request line): the answer goes out
 * unencrypted on the TCP socket under the TLS one (Node's TLSSocket._parent), so the client reads why instead of a
 * closed connection. False when that socket is not there to write to.
 */
function answerPlainHttp(ctx: ClientErrorContext, socket: Duplex): boolean {
  const raw = (socket as Duplex & { _parent?: unknown })._parent;
  if (!(raw instanceof Socket) || !raw.writable) return false;
  ctx.note('plain HTTP sent to the HTTPS listener; answered 400 and closed', 'ERR_SSL_HTTP_REQUEST');
  raw.end(PLAIN_HTTP_ANSWER, () => socket.destroy());
  return true;
}

/** Once a response ended on a connection that must close: half-close, then let go after this. */
const CLOSE_GRACE_MS = 5000;

export function handleClientError(ctx: ClientErrorContext, err: ClientError, socket: Duplex): void {
  const code = err.code ?? 'unknown';
  // Before the writability check: the TLS socket is not writable, the TCP socket under it is.
  if (code === 'ERR_SSL_HTTP_REQUEST' && answerPlainHttp(ctx, socket)) return;
  if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  const cause = `${code}${err.reason ? `: ${err.reason}` : ''}`;
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) {
    // The HTTPS listener's handshake failed or timed out: no HTTP was spoken, so none is answered or access-logged.
    ctx.note('TLS handshake failed; connection closed', cause);
    socket.destroy();
    return;
  }
  const { req, res } = ctx.current(socket);
  if (res !== null && !res.writableEnded) {
    if (!res.headersSent && req !== null && !req.complete) {
      if (code === 'HPE_INVALID_EOF_STATE') {
        // The client closed the connection before its body ended (an SDK giving up mid-upload): it left, as on a
        // reset; nothing is answered and the request is a 499, never a 400 for a malformed body nobody will read.
        abandonBodyRead(req);
        socket.destroy();
        return;
      }
      // The request being read broke: its own pipeline answers it.
      const error = code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new RouterError('request_timeout', 'the request body did not arrive in time')
        : new RouterError('bad_request', `malformed request body (${cause})`);
      if (!failBodyRead(req, error)) ctx.answer(res, error);
      return;
    }
    // A response is under way (pipelined garbage, or the next request timing out): nothing may be written into it.
    ctx.note('malformed or late bytes after a request; the connection closes when its response ends', cause);
    res.once('finish', () => closeGracefully(socket));
    return;
  }
  if (req !== null && !req.complete) {
    socket.destroy(); // the rest of a body refused with 413, still arriving: the answer has been given
    return;
  }
  const error = rawError(code, err.rawPacket, ctx.maxUrlBytes());
  if (code !== 'ERR_HTTP_REQUEST_TIMEOUT') ctx.refusedRaw(error, requestLineOf(err.rawPacket), cause);
  else ctx.note('a client sent no complete request within the header timeout; closed with 408', cause);
  const body = error.toBody();
  socket.end(
    `HTTP/1.1 ${error.status} ${REASONS[error.status] ?? 'Bad Request'}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  closeGracefully(socket);
}

const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' };

function rawError(code: string, packet: Buffer | undefined, maxUrlBytes: number): RouterError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new RouterError('request_timeout', 'the request headers did not arrive in time');
  if (code === 'HPE_HEADER_OVERFLOW') {
    // Node bounds the request line and headers together; a request line that alone is too long is a long URL.
    const lineEnd = packet === undefined ? -1 : packet.indexOf('\r\n');
    if (packet !== undefined && (lineEnd < 0 || lineEnd > maxUrlBytes)) return new RouterError('uri_too_long', 'the request URL is too long');
    return new RouterError('headers_too_large', 'the request headers are too large');
  }
  return new RouterError('bad_request', 'malformed HTTP request');
}

/** "METHOD /path" of a request line, when the packet starts with one (for the log; the path is cut short). */
function requestLineOf(packet: Buffer | undefined): string | null {
  if (packet === undefined) return null;
  const line = packet.toString('latin1', 0, Math.min(packet.length, 300)).split('\r\n')[0] ?? '';
  return /^[A-Z]{3,10} \S/.test(line) ? line : null;
}

function closeGracefully(socket: Duplex): void {
  if (!socket.writableEnded) socket.end();
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
}
