// Structured logs with pino: JSON lines, written asynchronously so logging never blocks a request.
import pino, { type Logger } from 'pino';
import { BatchWriter } from './batch-writer.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Log lines waiting beyond this are dropped rather than held in memory (a stalled reader). */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** `logger.flush(cb)` calls back once the lines are written, or after this long (a stalled reader). */
const FLUSH_WAIT_MS = 2000;

/**
 * pino's destination, written through the access log's BatchWriter rather than pino.destination(): sonic-boom's
 * exit-time flushSync retries a write that fails with EPIPE forever, so a router whose stdout reader went away
 * (`switchyard serve | head`, a log shipper that died) hung on exit, even after a second signal. Here EPIPE stops
 * the writing, and the exit writes what waits within a bound.
 */
class LogDestination {
  private readonly writer: BatchWriter;
  /** Lines of this event-loop turn, handed to the writer as one write. */
  private pending = '';
  private immediate: NodeJS.Immediate | null = null;

  constructor(fd: number) {
    this.writer = new BatchWriter(fd, { ownsFd: false, batchBytes: 0, maxQueuedBytes: MAX_QUEUED_BYTES });
    process.on('exit', this.flushSync);
  }

  write(line: string): void {
    this.pending += line;
    // Unref'd: an exit before it runs writes the lines synchronously (flushSync).
    this.immediate ??= setImmediate(this.handOver).unref();
  }

  /** pino's logger.flush(cb): calls back once everything logged so far is written (or dropped), or after a bound. */
  flush(cb?: (err?: Error) => void): void {
    this.handOver();
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_WAIT_MS).unref()));
    void Promise.race([this.writer.idle(), waited]).then(() => {
      clearTimeout(timer);
      cb?.();
    });
  }

  /** At exit (no event loop left): what waits, written synchronously; stops at EPIPE, bounded on a full pipe. */
  readonly flushSync = (): void => {
    this.handOver();
    this.writer.flushSync();
  };

  private readonly handOver = (): void => {
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    if (this.pending === '') return;
    const buffer = Buffer.from(this.pending);
    this.pending = '';
    this.writer.enqueue(buffer, buffer.length, 1);
  };
}

export function createLogger(level: LogLevel, fd = 1): Logger {
  return pino({ level, base: { service: 'switchyard' }, timestamp: pino.stdTimeFunctions.isoTime }, new LogDestination(fd));
}
