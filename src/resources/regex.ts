// Regexes for modelMatch header and uri matches with Go's regexp semantics (RE2 syntax, unanchored MatchString):
// re2js is a port of RE2/J, linear-time on any input, and refuses what Go refuses (backreferences, lookaround).
import { RE2JS } from 're2js';

export interface MatchRegex {
  readonly ok: true;
  /** Unanchored, as Go's MatchString; the string is matched as its code points (what Go sees as UTF-8). */
  readonly test: (value: string) => boolean;
  /** Unanchored match over UTF-8 bytes, as Go's Match; an invalid byte counts as one U+FFFD, as in Go. */
  readonly testBytes: (bytes: Uint8Array) => boolean;
}

export type CompiledMatchRegex = MatchRegex | { ok: false; error: string };

/** Compiles an RE2 pattern once (at snapshot time); the error reads like Go's `regexp.Compile`. */
export function compileMatchRegex(pattern: string): CompiledMatchRegex {
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(pattern);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, error: `invalid regex ${JSON.stringify(pattern)}: ${message}` };
  }
  return { ok: true, test: (value) => regex.test(value), testBytes: (bytes) => regex.test(bytes) };
}
