// GET requests of the router's periodic background work (health probes, engine scrapes), on undici's dispatch()
// callbacks, with a deadline for the whole exchange and a way to cancel it.
//
// These used undici's request() with an AbortSignal (AbortSignal.timeout, AbortSignal.any). Requests carrying a
// signal, a few per second next to the proxy's traffic, turned V8's young-generation GC pathological: every scavenge
// kept and promoted megabytes of the proxy's short-lived request garbage (scavenges of 15-30 ms instead of 1-2 ms,
// +150 MB of RSS, a third of the router's CPU under load). Without a signal that does not happen, so the deadline
// and cancellation go through the dispatch controller instead; the outcomes are the same as request()'s: the same
// errors (the deadline rejects with the TimeoutError DOMException AbortSignal.timeout gives), a non-2xx body read
// and discarded up to 128 KiB as body.dump() does.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

export interface BackgroundGetOptions {
  readonly headers?: Record<string, string>;
  /** Bounds the whole exchange, headers and body; also undici's headersTimeout and bodyTimeout. */
  readonly timeoutMs: number;
  /** 'text': a 2xx answer's body, non-2xx rejects with "status N". 'status': the status, the body discarded. */
  readonly read: 'text' | 'status';
  /** 'text' only: a larger body rejects with "response larger than N bytes". */
  readonly maxBodyBytes?: number;
}

export interface BackgroundGet<T> {
  readonly done: Promise<T>;
  /** Abandons the request: `done` rejects with `reason` (unless it has settled already). */
  cancel(reason: unknown): void;
}

/** What body.dump() reads of a body nobody wants before it gives up on the connection. */
const DUMP_LIMIT = 128 * 1024;

export function backgroundGet(dispatcher: Dispatcher, origin: string, path: string, options: BackgroundGetOptions & { read: 'text' }): BackgroundGet<string>;
export function backgroundGet(dispatcher: Dispatcher, origin: string, path: string, options: BackgroundGetOptions & { read: 'status' }): BackgroundGet<number>;
export function backgroundGet(dispatcher: Dispatcher, origin: string, path: string, options: BackgroundGetOptions): BackgroundGet<string | number> {
  const handler = new GetHandler(options);
  try {
    dispatcher.dispatch(
      { origin, path, method: 'GET', headers: options.headers, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs },
      handler,
    );
  } catch (err) {
    handler.settle(err, null);
  }
  return { done: handler.promise, cancel: (reason) => handler.cancel(reason) };
}

class GetHandler implements Dispatcher.DispatchHandler {
  readonly promise: Promise<string | number>;
  private resolve!: (value: string | number) => void;
  private reject!: (reason: unknown) => void;
  private readonly options: BackgroundGetOptions;
  private readonly timer: NodeJS.Timeout;
  private controller: Dispatcher.DispatchController | null = null;
  /** Set once the request is abandoned; aborts it as soon as it starts. */
  private abortReason: unknown = undefined;
  private settled = false;
  private status = 0;
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(options: BackgroundGetOptions) {
    this.options = options;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.timer = setTimeout(() => this.cancel(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), options.timeoutMs);
    this.timer.unref();
  }

  cancel(reason: unknown): void {
    if (this.settled) return;
    this.failed(reason);
    this.abort(reason);
  }

  settle(error: unknown, value: string | number | null): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.chunks = [];
    if (value !== null) this.resolve(value);
    else this.reject(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(this.abortReason as Error);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, _headers: IncomingHttpHeaders): void {
    this.status = statusCode;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    this.size += chunk.length;
    if (this.options.read === 'text' && this.status >= 200 && this.status < 300) {
      const limit = this.options.maxBodyBytes ?? Infinity;
      if (this.size > limit) {
        const error = new Error(`response larger than ${limit} bytes`);
        this.settle(error, null);
        this.abort(error);
        return;
      }
      this.chunks.push(chunk);
    } else if (this.size > DUMP_LIMIT) {
      this.finish(); // body.dump() stops reading here and settles
      this.abort(new DOMException('This operation was aborted', 'AbortError'));
    }
  }

  onResponseEnd(): void {
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.failed(error);
  }

  /**
   * The exchange broke off or was abandoned. Before the headers, and while a wanted body is read, that is the
   * outcome; a body being discarded (body.dump(), which settles on close whatever happened) does not change it.
   */
  private failed(error: unknown): void {
    const discarding = this.status !== 0 && (this.options.read === 'status' || this.status < 200 || this.status >= 300);
    if (discarding) this.finish();
    else this.settle(error, null);
  }

  /** The body is over (or no longer read): settle with what request() and the caller's read would give. */
  private finish(): void {
    if (this.settled) return;
    const status = this.status;
    if (this.options.read === 'status') this.settle(null, status);
    else if (status >= 200 && status < 300) this.settle(null, Buffer.concat(this.chunks, this.size).toString('utf8'));
    else this.settle(new Error(`status ${status}`), null);
  }

  private abort(reason: unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    if (this.controller !== null && !this.controller.aborted) this.controller.abort(reason as Error);
  }
}
