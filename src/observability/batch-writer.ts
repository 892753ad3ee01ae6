// Appends batches of lines to a file descriptor (a file, stdout or stderr) in order, one asynchronous fs.write at a
// time, off the request path: what the access log writes through. Batch buffers are reused from a small free list
// and written as they are (pino's sonic-boom copies every buffer it is given before writing it, and fresh buffers
// cost page faults). Like sonic-boom: a partial write continues where it stopped, EAGAIN (a full non-blocking pipe)
// is retried after 100 ms, and once more than `maxQueuedBytes` wait, new batches are dropped (counted, never
// blocking); EPIPE (the reader went away) stops all writing.
import { close as closeFd, write, writeSync } from 'node:fs';

interface Batch {
  readonly buffer: Buffer;
  readonly length: number;
  readonly lines: number;
  /** Bytes of it written so far. */
  written: number;
}

const RETRY_MS = 100;
/** At exit (synchronous writes): retries of a full pipe, and the pause before each. */
const EXIT_RETRIES = 100;
const EXIT_RETRY_MS = 10;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
/** Spare batch buffers kept for reuse. */
const FREE_BUFFERS = 2;

export class BatchWriter {
  readonly batchBytes: number;
  /** Lines dropped: the queue was full, the output failed. */
  dropped = 0;
  private readonly fd: number;
  private readonly ownsFd: boolean;
  private readonly maxQueuedBytes: number;
  private readonly queue: Batch[] = [];
  private queuedBytes = 0;
  private readonly free: Buffer[] = [];
  /** A write (or its retry) is under way for queue[0]. */
  private writing = false;
  /** An fs.write of queue[0] is in the thread pool now. */
  private inFlight = false;
  private broken = false;
  private idleWaiters: (() => void)[] = [];

  constructor(fd: number, options: { ownsFd: boolean; batchBytes: number; maxQueuedBytes: number }) {
    this.fd = fd;
    this.ownsFd = options.ownsFd;
    this.batchBytes = options.batchBytes;
    this.maxQueuedBytes = options.maxQueuedBytes;
  }

  /** An empty buffer of batchBytes to fill (then give to `enqueue`). */
  buffer(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.batchBytes);
  }

  /** Queues the first `length` bytes of `buffer`, `lines` lines, for writing; the buffer is the writer's now. */
  enqueue(buffer: Buffer, length: number, lines: number): void {
    if (this.broken || this.queuedBytes + length > this.maxQueuedBytes) {
      this.dropped += lines;
      this.recycle(buffer);
      return;
    }
    this.queue.push({ buffer, length, lines, written: 0 });
    this.queuedBytes += length;
    this.next();
  }

  /** Resolves once everything queued so far is written (or dropped). */
  idle(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Waits for the queue to empty, then closes the descriptor if it was opened for this writer. */
  async close(): Promise<void> {
    await this.idle();
    if (this.ownsFd) await new Promise<void>((resolve) => closeFd(this.fd, () => resolve()));
  }

  /**
   * Writes what is queued synchronously, for an exit of the process (no event loop is left). A batch being written
   * asynchronously at that moment is left to the thread writing it.
   */
  flushSync(): void {
    for (let i = this.inFlight ? 1 : 0; i < this.queue.length && !this.broken; i++) {
      const batch = this.queue[i];
      let attempts = 0;
      while (batch.written < batch.length) {
        try {
          batch.written += writeSync(this.fd, batch.buffer, batch.written, batch.length - batch.written);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if ((code === 'EAGAIN' || code === 'EBUSY') && ++attempts <= EXIT_RETRIES) {
            Atomics.wait(SLEEPER, 0, 0, EXIT_RETRY_MS); // a full pipe: give its reader a moment
            continue;
          }
          this.broken = code === 'EPIPE';
          this.dropped += batch.lines;
          break;
        }
      }
    }
  }

  private next(): void {
    if (this.writing) return;
    const batch = this.queue[0];
    if (batch === undefined) {
      for (const wake of this.idleWaiters.splice(0)) wake();
      return;
    }
    this.writing = true;
    this.inFlight = true;
    write(this.fd, batch.buffer, batch.written, batch.length - batch.written, null, this.written);
  }

  private readonly written = (err: NodeJS.ErrnoException | null, bytes: number): void => {
    this.inFlight = false;
    const batch = this.queue[0];
    if (err !== null) {
      if (err.code === 'EAGAIN' || err.code === 'EBUSY') {
        setTimeout(this.retry, RETRY_MS); // still `writing`: nothing else starts meanwhile
        return;
      }
      if (err.code === 'EPIPE') {
        // The reader is gone: nothing will be written again.
        this.broken = true;
        for (const dropped of this.queue.splice(0)) this.dropped += dropped.lines;
        this.queuedBytes = 0;
        this.writing = false;
        this.next();
        return;
      }
      this.done(batch, true);
      return;
    }
    batch.written += bytes;
    if (batch.written < batch.length) {
      this.inFlight = true;
      write(this.fd, batch.buffer, batch.written, batch.length - batch.written, null, this.written);
      return;
    }
    this.done(batch, false);
  };

  private readonly retry = (): void => {
    this.writing = false;
    this.next();
  };

  private done(batch: Batch, failed: boolean): void {
    if (failed) this.dropped += batch.lines;
    this.queue.shift();
    this.queuedBytes -= batch.length;
    this.recycle(batch.buffer);
    this.writing = false;
    this.next();
  }

  private recycle(buffer: Buffer): void {
    if (this.free.length < FREE_BUFFERS && buffer.length === this.batchBytes) this.free.push(buffer);
  }
}
