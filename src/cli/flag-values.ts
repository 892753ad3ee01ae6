// Parsers for command-line values; each throws commander's InvalidArgumentError with a message naming the format.
import { InvalidArgumentError } from 'commander';
import { MAX_TIMER_MS, MAX_TIMER_TEXT, parseGoDuration } from '../resources/duration.ts';
import { invalidAllowedPath } from '../routing/path-policy.ts';

export function parsePort(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

/** A count that 0 would make useless (not "no limit"), e.g. --max-connections. */
export function parseCountAtLeastOne(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

/** "30s", "1m30s", "500ms", or a bare number of seconds; from 0 to the longest timer. */
export function parseDurationMs(value: string): number {
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : parseGoDuration(value);
  if (ms === null) throw new InvalidArgumentError('expected a duration such as 30s, 1m30s or 500ms');
  if (ms < 0 || ms > MAX_TIMER_MS) throw new InvalidArgumentError(`expected a duration from 0 to ${MAX_TIMER_TEXT} (the longest timer)`);
  return ms;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1000, kb: 1000, ki: 1024, kib: 1024, m: 1e6, mb: 1e6, mi: 1024 ** 2, mib: 1024 ** 2, g: 1e9, gb: 1e9, gi: 1024 ** 3, gib: 1024 ** 3,
};

/** "16MiB", "512KB", "1048576". */
export function parseByteSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError('expected a size such as 16MiB, 512KB or 1048576');
  return Math.floor(Number(m[1]) * unit);
}

/** A Prometheus metric name prefix, e.g. switchyard or kthena_router. */
export function parseMetricPrefix(value: string): string {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(value)) throw new InvalidArgumentError('expected a metric name prefix such as switchyard or kthena_router');
  return value;
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A number >= 0, fractions allowed (e.g. milliseconds per token). */
export function parseNonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0');
  return n;
}

/** --allow-path, repeatable: a plain absolute path (path-policy.ts). */
export function parseAllowedPath(value: string, previous: string[] | undefined): string[] {
  const problem = invalidAllowedPath(value);
  if (problem !== null) throw new InvalidArgumentError(problem);
  return [...(previous ?? []), value];
}
