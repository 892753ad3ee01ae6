// The fixed-delay token loop: every request on its own clock (ttft, then itl per token). It times the tokens
// when the batch simulator (simulator/, chosen in generator.ts) is off, which is the default.

export interface TokenTiming {
  ttftMs: number;
  itlMs: number;
}

/**
 * Waits `ms`, or exactly one event-loop turn (setImmediate) when `ms` is 0, so consecutive writes never
 * coalesce into one TCP segment. Resolves false, at once, if `signal` aborts first.
 */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      signal.removeEventListener('abort', onAbort);
      resolve(completed);
    };
    const timer = ms > 0 ? setTimeout(() => done(true), ms) : undefined;
    const immediate = ms > 0 ? undefined : setImmediate(() => done(true));
    const onAbort = () => {
      clearTimeout(timer);
      clearImmediate(immediate);
      done(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Emits `tokenCount` tokens: the first after `ttftMs`, each next one `itlMs` after the previous.
 * With no tokens it still waits `ttftMs` (the prefill happens anyway). Stops as soon as `signal` aborts.
 * Returns how many tokens were emitted.
 */
export async function runTokenLoop(
  tokenCount: number,
  timing: TokenTiming,
  signal: AbortSignal,
  emit: (index: number) => void | Promise<void>,
): Promise<number> {
  if (tokenCount === 0) {
    await pause(timing.ttftMs, signal);
    return 0;
  }
  for (let index = 0; index < tokenCount; index++) {
    const proceed = await pause(index === 0 ? timing.ttftMs : timing.itlMs, signal);
    if (!proceed) return index;
    await emit(index);
    if (signal.aborted) return index + 1;
  }
  return tokenCount;
}
