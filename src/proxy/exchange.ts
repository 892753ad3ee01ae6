// One client request served by a backend (backend.ts): the single owner of the client's response. Every write to it
// goes through commit / relay / completed / brokeMidway / fail below, each of which refuses once the exchange has
// moved on, so a client never gets a second response. What every backend shares lives here:
//   - retries only before anything reached the client: attempts that never reached their upstream up to 3 times
//     without a policy; 502/503/504, timeouts and broken connections within trafficPolicy.retry.attempts, after
//     retryInterval (or the backend's delay, e.g. a provider's Retry-After);
//   - committing an answer: the client's headers, the SSE usage tap, the copy of a JSON answer's usage;
//   - a non-streamed answer's head waits for its first body byte, so one that breaks before any is a proper 502;
//     a committed answer that breaks later ends with one SSE error event (streams) or a cut connection, never a
//     second response; an event stream that ignored accept-encoding: identity is refused (it cannot be tapped);
//   - a client that goes away cancels the running attempt at once;
//   - timing (when the answering headers came) and the outcome the request record gets.
// Built on undici's dispatch() callbacks (upstream-leg.ts): no streams, no per-chunk promises; an event stream's
// chunks are framed into one small pooled buffer each and written to the client's socket directly.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { RouterError, errorDialectOf, writeErrorResponse } from '../errors/router-error.ts';
import type { PodEndpoint } from '../snapshot/types.ts';
import { AnswerUsage, isEncoded } from './answer-usage.ts';
import type { AttemptSink, Backend, BackendAttempt, ExchangeOutcome, ExchangeRequest, FailureKind } from './backend.ts';
import { buildClientHeaders } from './headers.ts';
import { SseUsageTap, type TokenUsage } from './sse-usage.ts';

export type { Backend, BackendAttempt, ExchangeOutcome, ExchangeRequest } from './backend.ts';

/** Attempts that never reached their upstream are retried on other candidates even without a retry policy. */
export const MAX_CONNECT_RETRIES = 3;

const DIGITS = /^\d+$/;

/** Retry-After of a 503 upstream_busy: pooled connections free up as streams end, within seconds. */
const UPSTREAM_BUSY_RETRY_AFTER_S = '1';

class ClientGone extends Error {}

/**
 * Serves `request` with `backend`: the one entry point of the proxy. Returns at once; request.onDone reports the end
 * (exactly once: answered, failed, or abandoned by the client).
 */
export function runExchange(request: ExchangeRequest, backend: Backend): void {
  new Exchange(request, backend).start();
}

export class Exchange implements AttemptSink {
  readonly request: ExchangeRequest;
  private readonly backend: Backend;
  private current: BackendAttempt | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private connectRetriesLeft = MAX_CONNECT_RETRIES;
  private policyRetriesLeft: number;
  private committed = false;
  private finished = false;
  private clientGone = false;
  private lastError: RouterError | null = null;
  private upstreamStatus = 0;
  private servedBy: PodEndpoint | null = null;
  private headersAt = 0;
  private answer: AnswerUsage | null = null;
  /** A body of known length that is not an event stream: its size (-1 otherwise); the bytes sent on so far (any body). */
  private expectedBytes = -1;
  private sentBytes = 0;
  private drainListened = false;
  /**
   * An event stream's client socket once its head is out: its events go to the socket directly, chunk-framed here,
   * one write each. node:http's res.write corks the socket and uncorks it on the next tick for every event, and
   * writes the framing as three more buffers: ~30 µs of user CPU per 20-event stream (bench/README.md).
   */
  private directSocket: Socket | null = null;
  private socketDrainListener: (() => void) | null = null;
  /**
   * A non-streamed answer's head, held until its first body byte (or its end): a pod that closes after its headers
   * then gets the client a 502 instead of an empty reply. Event streams send theirs with their first event, or at
   * the end of the tick that committed them.
   */
  private heldHead: string[] | null = null;

  constructor(request: ExchangeRequest, backend: Backend) {
    this.request = request;
    this.backend = backend;
    this.policyRetriesLeft = request.retryAttempts;
    // A response closes once: a plain listener (no once() wrapper, no closure), finding the exchange through the response.
    (request.res as ExchangedResponse)[EXCHANGE] = this;
    request.res.on('close', onResponseClose);
  }

  start(): void {
    this.nextAttempt();
  }

  /** The response closed: the client went away, or the response ended (then the exchange has finished already). */
  onClientClose(): void {
    if (this.finished) return;
    this.clientGone = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.current?.abandon(new ClientGone('client disconnected'));
    this.finish(0, this.answer?.partialUsage ?? null);
  }

  /** Starts the next attempt (also after a retry interval). */
  nextAttempt(): void {
    this.retryTimer = null;
    if (this.clientGone || this.finished) return;
    let attempt: BackendAttempt | null;
    try {
      attempt = this.backend.next(this);
    } catch (err) {
      this.fail(err instanceof RouterError ? err : new RouterError('internal_error', `internal error building the upstream request: ${(err as Error).message}`));
      return;
    }
    if (attempt === null) {
      this.fail(this.lastError ?? this.backend.exhausted());
      return;
    }
    this.attempts++;
    this.current = attempt;
    attempt.start();
  }

  wouldRetry(attempt: BackendAttempt): boolean {
    if (attempt !== this.current || this.committed || this.finished) return false;
    return this.policyRetriesLeft > 0 && this.backend.hasNext();
  }

  attemptFailed(attempt: BackendAttempt, error: RouterError, kind: FailureKind, delayMs?: number): void {
    if (attempt !== this.current || this.finished || this.committed) return;
    this.current = null;
    this.lastError = error;
    const another = this.backend.hasNext();
    if (kind === 'connect' && another && this.connectRetriesLeft > 0) {
      this.connectRetriesLeft--;
      this.nextAttempt();
    } else if (kind !== 'final' && another && this.policyRetriesLeft > 0) {
      this.policyRetriesLeft--;
      this.retryTimer = setTimeout(retryLater, delayMs ?? this.request.retryIntervalMs, this);
    } else {
      this.fail(error);
    }
  }

  commit(attempt: BackendAttempt, pod: PodEndpoint | null, status: number, headers: IncomingHttpHeaders): boolean {
    const res = this.request.res;
    // A queued stream (pipeline admit stage) has its status line out already: its response continues that stream.
    if (attempt !== this.current || this.finished || this.committed) return false;
    const contentType = headers['content-type'];
    const isSse = this.request.stream && typeof contentType === 'string' && contentType.startsWith('text/event-stream');
    if (isSse && isEncoded(headers)) {
      // Streams ask for identity; an upstream that compresses anyway could not be tapped (usage lost, the hidden usage
      // event passed on): refused like a malformed answer, retried elsewhere under the retry policy.
      const coding = String(headers['content-encoding']);
      this.attemptFailed(attempt, new RouterError('upstream_protocol_error', `the upstream sent a ${coding}-encoded event stream although the router asked for accept-encoding: identity`), 'retryable');
      return false;
    }
    this.committed = true;
    this.lastError = null; // the client gets an upstream answer, whatever failed before
    this.upstreamStatus = status;
    this.servedBy = pod;
    this.headersAt = performance.now();
    const learnResponseId = status < 300 && this.request.learnResponseId === true;
    const tap = isSse ? new SseUsageTap(this.request.hideUsage, learnResponseId) : null;
    this.answer = new AnswerUsage(tap, status, headers, learnResponseId);
    if (tap === null) {
      const length = headers['content-length'];
      if (typeof length === 'string' && DIGITS.test(length)) this.expectedBytes = Number(length);
    }
    const head = buildClientHeaders(headers, this.request.requestId, tap !== null && this.request.hideUsage, this.request.closeConnection(), res, this.backend.withheldResponseHeaders);
    if (isSse) {
      // The head leaves with the first event when undici hands it over in the same read (one write instead of two);
      // otherwise at the end of this tick, so the client has its status line before the first token.
      res.writeHead(status, head);
      process.nextTick(flushSseHead, this);
    } else {
      this.heldHead = head;
    }
    return true;
  }

  relay(chunk: Buffer): boolean {
    const answer = this.answer;
    if (answer === null || this.finished) return true;
    const out = answer.pass(chunk);
    if (out === null || out.length === 0) return true;
    const socket = this.directSocket;
    if (socket !== null) {
      // Ended from outside (the drain's closing event): its close, and so this exchange's end, waits for the socket to
      // flush (a TLS write always completes later), and nothing may follow the terminating chunk meanwhile.
      if (this.request.res.writableEnded) return false;
      this.sentBytes += out.length;
      return writeChunk(socket, out) || this.awaitSocketDrain(socket);
    }
    const res = this.request.res;
    if (this.heldHead !== null) this.sendHeldHead(res);
    this.sentBytes += out.length;
    if (this.sentBytes === this.expectedBytes) {
      // The last bytes of the body: headers and body leave in one write, no cork and flush of a separate end().
      res.end(out);
      return true;
    }
    const written = res.write(out);
    if (answer.tap !== null) this.writeDirectly(res);
    if (written) return true;
    if (!this.drainListened) {
      this.drainListened = true;
      res.on('drain', onResponseDrain);
    }
    return false;
  }

  /** The end of the tick that committed an event stream: sends its head if no event took it along. */
  flushHead(): void {
    const res = this.request.res;
    if (this.sentBytes === 0 && !res.writableEnded && !res.destroyed) {
      res.flushHeaders();
      this.writeDirectly(res);
    }
  }

  /**
   * An event stream's head is out: its events go on to the socket directly when node:http would only add its chunk
   * framing (the socket is this response's, nothing of it is buffered, write is not replaced: a queued stream's is).
   */
  private writeDirectly(res: ServerResponse): void {
    const socket = res.socket;
    if (this.directSocket !== null || socket === null || !res.chunkedEncoding || !res.headersSent || res.writableEnded) return;
    if (res.writableLength !== socket.writableLength || Object.hasOwn(res, 'write')) return;
    this.directSocket = socket;
  }

  /** A direct write filled the client's socket: the upstream read pauses until it drains. */
  private awaitSocketDrain(socket: Socket): false {
    if (this.socketDrainListener === null) {
      this.socketDrainListener = () => {
        this.socketDrainListener = null;
        this.drained();
      };
      socket.once('drain', this.socketDrainListener);
    }
    return false;
  }

  /** The client's socket drained: the current attempt resumes its paused read. */
  drained(): void {
    this.current?.resume();
  }

  completed(attempt: BackendAttempt): void {
    if (attempt !== this.current || this.finished || !this.committed) return;
    if (this.answer?.tap?.endedMidEvent === true) {
      // The half event is not passed on: the client stays at an event boundary and gets the error event instead.
      this.brokeMidway(attempt, new RouterError('upstream_stream_error', 'the upstream ended its event stream in the middle of an event'));
      return;
    }
    const res = this.request.res;
    if (this.heldHead !== null) this.sendHeldHead(res);
    const usage = this.answer === null ? null : this.answer.finish(res);
    if (!res.writableEnded) res.end(); // the last relay may have ended it with the last bytes
    const reported = this.answer?.tap?.upstreamError ?? null;
    // Passed on as sent; the outcome (access log, metrics) says the stream failed.
    if (reported !== null) this.lastError = new RouterError('upstream_stream_error', `the upstream reported an error in its event stream: ${reported}`);
    this.finish(this.upstreamStatus, usage);
  }

  brokeMidway(attempt: BackendAttempt, error: RouterError): void {
    if (attempt !== this.current || this.finished || !this.committed) return;
    this.lastError = error;
    const res = this.request.res;
    if (this.heldHead !== null) {
      // Nothing of the answer left yet: the client gets a proper 502 rather than an empty reply (a queued stream:
      // one SSE error event, queued-sse.ts).
      this.heldHead = null;
      writeErrorResponse(res, error, this.request.requestId, this.request.closeConnection());
      this.finish(error.status, null);
      return;
    }
    const sse = (this.answer?.tap ?? null) !== null;
    if (sse && !res.writableEnded) res.end(error.toSseEvent(errorDialectOf(res.req.url)));
    else res.destroy();
    this.finish(this.upstreamStatus, this.answer?.partialUsage ?? null);
  }

  private fail(error: RouterError): void {
    if (this.finished) return;
    this.lastError = error;
    const res = this.request.res;
    if (!this.committed && !res.headersSent) {
      this.committed = true;
      if (error.code === 'upstream_busy') res.setHeader('retry-after', UPSTREAM_BUSY_RETRY_AFTER_S);
      writeErrorResponse(res, error, this.request.requestId, this.request.closeConnection());
    }
    this.finish(error.status, null);
  }

  private sendHeldHead(res: ServerResponse): void {
    const head = this.heldHead!;
    this.heldHead = null;
    res.writeHead(this.upstreamStatus, head);
  }

  private finish(status: number, usage: TokenUsage | null): void {
    if (this.finished) return;
    this.finished = true;
    this.current = null;
    if (this.socketDrainListener !== null) this.directSocket?.off('drain', this.socketDrainListener);
    const error = this.clientGone ? null : this.lastError;
    const outcome: Mutable<ExchangeOutcome> = {
      status: this.clientGone ? 0 : status,
      attempts: this.attempts,
      pod: this.servedBy,
      upstreamStatus: this.upstreamStatus,
      usage,
      streamedEvents: this.answer?.tap?.events ?? 0,
      error,
      clientAborted: this.clientGone,
      headersAt: this.headersAt,
      responseId: this.answer?.responseId ?? null,
    };
    this.backend.describe?.(outcome);
    if (error === null && !this.clientGone && this.servedBy !== null && status >= 200 && status < 300) this.backend.served(this.servedBy);
    this.request.onDone(outcome);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const EXCHANGE = Symbol('exchange');

interface ExchangedResponse extends ServerResponse {
  [EXCHANGE]: Exchange;
}

const CRLF = Buffer.from('\r\n');
/** Beyond this, a chunk goes out with its framing as three buffers (one writev) rather than copied into one. */
const COPY_LIMIT = 16 * 1024;

/** Writes `data` as one HTTP/1.1 chunk; false when the socket's buffer is full. */
function writeChunk(socket: Socket, data: Buffer): boolean {
  const size = data.length.toString(16);
  if (data.length > COPY_LIMIT) {
    socket.cork();
    socket.write(`${size}\r\n`, 'latin1');
    socket.write(data);
    const ok = socket.write(CRLF);
    socket.uncork();
    return ok;
  }
  const framed = Buffer.allocUnsafe(size.length + data.length + 4);
  framed.write(size, 0, 'latin1');
  let at = size.length;
  framed[at++] = 0x0d;
  framed[at++] = 0x0a;
  at += data.copy(framed, at);
  framed[at++] = 0x0d;
  framed[at] = 0x0a;
  return socket.write(framed);
}

function flushSseHead(exchange: Exchange): void {
  exchange.flushHead();
}

function retryLater(exchange: Exchange): void {
  exchange.nextAttempt();
}

/** The request whose exchange writes `res`, once it started. */
export function exchangedRequestOf(res: ServerResponse): ExchangeRequest | undefined {
  return (res as Partial<ExchangedResponse>)[EXCHANGE]?.request;
}

/** 'close' listener of an exchanged response: the client went away, or the response ended. */
function onResponseClose(this: ExchangedResponse): void {
  this[EXCHANGE].onClientClose();
}

/** 'drain' listener of an exchanged response whose attempt paused the upstream read. */
function onResponseDrain(this: ExchangedResponse): void {
  this[EXCHANGE].drained();
}
