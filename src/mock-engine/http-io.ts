// Small helpers for reading request bodies and writing JSON / text / vLLM-style error responses.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';

/** Bodies larger than this are refused; no real prompt in a test or demo comes close. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** An error that becomes an HTTP response with vLLM's error body. */
export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  constructor(status: number, message: string, type = errorTypeFor(status)) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** vLLM names error types after the HTTP status phrase, e.g. 404 → "NotFoundError". */
export function errorTypeFor(status: number): string {
  const phrase = (STATUS_CODES[status] ?? 'Unknown').replace(/[^A-Za-z]/g, '').replace(/Error$/, '');
  return `${phrase}Error`;
}

export function errorBody(status: number, message: string, type = errorTypeFor(status)) {
  return { object: 'error', message, type, param: null, code: status };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the whole body as UTF-8. Rejects with 413 when too large, or with the stream error if the client goes away. */
export function readBodyText(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `Request body exceeds ${MAX_BODY_BYTES} bytes.`));
        req.removeAllListeners('data');
        req.resume(); // drain the rest so the socket can still carry our 413
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    // 'aborted' without 'error' happens on some client disconnects; treat it the same.
    req.on('aborted', () => reject(new Error('client aborted the request body')));
  });
}

/** Parses a JSON object body; anything else is a 400 in vLLM's shape. */
export function parseJsonObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `Invalid JSON body: ${(error as Error).message}`);
  }
  if (!isRecord(parsed)) throw new HttpError(400, 'The request body must be a JSON object.');
  return parsed;
}

/** True when a response can still be written (client present, nothing sent yet). */
export function canRespond(res: ServerResponse): boolean {
  return !res.headersSent && !res.destroyed && !res.writableEnded;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (!canRespond(res)) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  if (!canRespond(res)) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, errorBody(error.status, error.message, error.type));
}
