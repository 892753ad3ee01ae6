// Regexes for modelMatch header and uri matches, with Go RE2 MatchString semantics (unanchored).
import v8 from 'node:v8';
import { translateRe2Pattern } from './re2-syntax.ts';

// Makes the `l` flag available: V8's linear-time engine, which like RE2 cannot backtrack catastrophically.
v8.setFlagsFromString('--enable-experimental-regexp-engine');

export type CompiledMatchRegex = { ok: true; regex: RegExp; linear: boolean } | { ok: false; error: string };

/**
 * Compiles an RE2 pattern for unanchored matching (`regex.test(value)`). Prefers the linear-time engine;
 * patterns it cannot run (the `i` flag, backreferences, lookaround) get the backtracking engine and
 * `linear: false`, so callers can warn about them.
 */
export function compileMatchRegex(pattern: string): CompiledMatchRegex {
  const translated = translateRe2Pattern(pattern);
  if (!translated.ok) return { ok: false, error: `invalid regex ${JSON.stringify(pattern)}: ${translated.error}` };
  const { source, flags } = translated;
  try {
    return { ok: true, regex: new RegExp(source, `${flags}l`), linear: true };
  } catch {
    // Either not linear-time compatible or not valid at all; the normal engine tells which.
  }
  try {
    return { ok: true, regex: new RegExp(source, flags), linear: false };
  } catch (error) {
    return { ok: false, error: `invalid regex ${JSON.stringify(pattern)}: ${syntaxErrorReason(error)}` };
  }
}

/** V8 says "Invalid regular expression: /<translated source>/: Unterminated group"; keep the reason only. */
function syntaxErrorReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = message.slice(message.lastIndexOf(': ') + 2);
  return reason || message;
}
