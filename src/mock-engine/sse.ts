// A Server-Sent Events response that writes each event in its own res.write and can cut itself off on purpose.
import type { ServerResponse } from 'node:http';
import type { TrackedRequest } from './test-hooks.ts';

export class SseStream {
  readonly #res: ServerResponse;
  readonly #tracked: TrackedRequest;
  readonly #dropAfterEvents: number | undefined;
  #eventsSent = 0;
  /** Set once the event limit of a drop fault is reached: nothing more is written. */
  #dropping = false;

  constructor(res: ServerResponse, tracked: TrackedRequest) {
    this.#res = res;
    this.#tracked = tracked;
    this.#dropAfterEvents = tracked.fault?.dropAfterChunks;
  }

  /** False once the client is gone or the stream was dropped; callers stop producing then. */
  get open(): boolean {
    return !this.#dropping && !this.#res.destroyed && !this.#tracked.signal.aborted;
  }

  /** Sends the status line and headers at once, before the first token exists. */
  start(): void {
    this.#res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    this.#res.flushHeaders();
    if (this.#dropAfterEvents === 0) {
      this.#dropping = true;
      setImmediate(() => this.#tracked.drop()); // let the headers leave first
    }
  }

  /** Writes `data: <json>\n\n` (or the literal `[DONE]` sentinel), after `event: <name>` when named. */
  send(data: object | '[DONE]', name?: string): void {
    if (!this.open) return;
    // Large token events are not a concern here, so backpressure is ignored: a slow reader just buffers.
    const event = `${name === undefined ? '' : `event: ${name}\n`}data: ${data === '[DONE]' ? data : JSON.stringify(data)}\n\n`;
    this.#eventsSent++;
    if (this.#eventsSent !== this.#dropAfterEvents) {
      this.#res.write(event);
      return;
    }
    // Node corks the socket until the next tick, so destroy only once this last event has really left.
    this.#dropping = true;
    this.#res.write(event, () => this.#tracked.drop());
  }

  end(): void {
    if (this.open) this.#res.end();
  }
}
