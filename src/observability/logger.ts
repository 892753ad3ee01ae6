// Structured logs with pino: JSON lines, written asynchronously so logging never blocks a request.
import pino, { type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(level: LogLevel, destination: number | string = 1): Logger {
  return pino(
    { level, base: { service: 'switchyard' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: destination, sync: false }),
  );
}
