// Reads a request body into one Buffer, refusing bodies above the limit before reading them when possible.
// On the request path: the listeners are module-level functions that find their reader through the request, so a
// read allocates one small object, and they stay attached once it settled (the request object goes soon after; a
// late event finds the reader settled). No 'error' listener: an aborted request then emits only 'close' (Node does
// not emit 'error' on an IncomingMessage nobody listens to), which settles the read as aborted.
import type { IncomingMessage } from 'node:http';
import type { RouterError } from '../errors/router-error.ts';

export type BodyResult =
  | { ok: true; body: Buffer }
  | { ok: false; reason: 'too_large' | 'aborted' }
  /** The listener found the body unreadable (broken framing, --body-timeout): answer `error`, close the connection. */
  | { ok: false; reason: 'unreadable'; error: RouterError };

/**
 * After a 413 the rest of the body is read and discarded for at most this long, so that a client still sending it
 * reads the answer instead of a reset (nginx's lingering_time). Then the connection is closed.
 */
export const LINGER_MS = 30_000;

const READER = Symbol('bodyReader');

interface Reading extends IncomingMessage {
  [READER]: BodyReader;
}

class BodyReader {
  readonly limit: number;
  readonly done: (result: BodyResult) => void;
  first: Buffer | null = null;
  chunks: Buffer[] | null = null;
  size = 0;
  settled = false;

  constructor(limit: number, done: (result: BodyResult) => void) {
    this.limit = limit;
    this.done = done;
  }

  settle(result: BodyResult): void {
    if (this.settled) return;
    this.settled = true;
    this.first = null;
    this.chunks = null;
    this.done(result);
  }
}

const TOO_LARGE: BodyResult = Object.freeze({ ok: false, reason: 'too_large' });
const ABORTED: BodyResult = Object.freeze({ ok: false, reason: 'aborted' });
const EMPTY = Buffer.alloc(0);

function onData(this: Reading, chunk: Buffer): void {
  const reader = this[READER];
  if (reader.settled) return;
  reader.size += chunk.length;
  if (reader.size > reader.limit) {
    lingerOnBody(this);
    reader.settle(TOO_LARGE);
    return;
  }
  if (reader.first === null) reader.first = chunk;
  else (reader.chunks ??= [reader.first]).push(chunk);
}

function onEnd(this: Reading): void {
  const reader = this[READER];
  if (reader.settled) return;
  const body = reader.chunks !== null ? Buffer.concat(reader.chunks, reader.size) : (reader.first ?? EMPTY);
  reader.settle({ ok: true, body });
}

function onClose(this: Reading): void {
  const reader = this[READER];
  if (!reader.settled && !this.complete) reader.settle(ABORTED);
}

/** Settles a body read still under way as abandoned by its client. False when none was. */
export function abandonBodyRead(req: IncomingMessage): boolean {
  const reader = (req as Partial<Reading>)[READER];
  if (reader === undefined || reader.settled) return false;
  reader.settle(ABORTED);
  return true;
}

/** Settles a body read still under way with `error` (the listener saw the request break). False when none was. */
export function failBodyRead(req: IncomingMessage, error: RouterError): boolean {
  const reader = (req as Partial<Reading>)[READER];
  if (reader === undefined || reader.settled) return false;
  reader.settle({ ok: false, reason: 'unreadable', error });
  return true;
}

export function readBody(req: IncomingMessage, limit: number, done: (result: BodyResult) => void): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    lingerOnBody(req);
    done(TOO_LARGE);
    return;
  }
  (req as Reading)[READER] = new BodyReader(limit, done);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
}

/**
 * The body will not be read: Node discards what still comes once the answer is sent (keep-alive) and the client reads
 * that answer instead of a reset; a body still arriving after LINGER_MS gets its connection closed.
 */
function lingerOnBody(req: IncomingMessage): void {
  if (req.complete) return;
  const socket = req.socket;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  req.once('end', () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
}
