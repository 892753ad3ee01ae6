// Go time.ParseDuration, as used by metav1.Duration: "10s", "1m30s", "1.5s", "500us", "-2h", "0".

const NANOS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** Go durations are int64 nanoseconds. */
const MAX_NANOS = 2n ** 63n - 1n;

/** One "<number><unit>" component, e.g. "1.5" + "s". */
const COMPONENT = /^(\d*)(?:\.(\d*))?([^\d.]+)/;

export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

/** Node's longest timer: setTimeout takes a signed 32-bit millisecond count and fires after 1 ms beyond it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
export const MAX_TIMER_TEXT = '596h31m23.647s';

export type TimerDurationResult = { ok: true; ms: number; clamped: boolean } | { ok: false; error: string };

/** Milliseconds (negative when the text is), or null when the text is not a Go duration. */
export function parseGoDuration(text: string): number | null {
  const result = checkGoDuration(text);
  return result.ok ? result.ms : null;
}

/** Like parseGoDuration, with the reason when the text is invalid. */
export function checkGoDuration(text: string): DurationResult {
  const invalid = (why: string): DurationResult => ({
    ok: false,
    error: `invalid duration ${JSON.stringify(text)}: ${why} (use a Go duration such as "10s", "1m30s" or "250ms")`,
  });
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  if (rest === '0') return { ok: true, ms: 0 };
  if (rest === '') return invalid('empty');

  let totalNanos = 0n;
  while (rest !== '') {
    const match = COMPONENT.exec(rest);
    if (!match) return invalid(/^[\d.]/.test(rest) ? 'missing unit' : 'expected a number');
    const [component, whole = '', fraction, unit = ''] = match;
    if (whole === '' && (fraction === undefined || fraction === '')) return invalid('expected a number');
    const unitNanos = NANOS_PER_UNIT[unit];
    if (unitNanos === undefined) return invalid(`unknown unit ${JSON.stringify(unit)}`);
    totalNanos += BigInt(whole || '0') * unitNanos;
    if (fraction) {
      // Like Go, digits finer than a nanosecond are truncated.
      totalNanos += (BigInt(fraction) * unitNanos) / 10n ** BigInt(fraction.length);
    }
    if (totalNanos > MAX_NANOS) return invalid('out of range');
    rest = rest.slice(component.length);
  }
  const ms = Number(totalNanos) / 1e6;
  return { ok: true, ms: negative && ms !== 0 ? -ms : ms };
}

/**
 * A duration from config that becomes a timer: not negative, and at most MAX_TIMER_MS. Longer ones are valid
 * metav1.Durations (Kthena accepts them), so they are clamped, with `clamped` set for a warning (timerClampedMessage).
 */
export function checkTimerDuration(text: string): TimerDurationResult {
  const parsed = checkGoDuration(text);
  if (!parsed.ok) return parsed;
  if (parsed.ms < 0) return { ok: false, error: `must not be negative, got ${JSON.stringify(text)}` };
  return parsed.ms > MAX_TIMER_MS ? { ok: true, ms: MAX_TIMER_MS, clamped: true } : { ok: true, ms: parsed.ms, clamped: false };
}

export function timerClampedMessage(text: string): string {
  return `${JSON.stringify(text)} is longer than the longest timer Node.js supports; treated as the maximum, ${MAX_TIMER_TEXT}`;
}
