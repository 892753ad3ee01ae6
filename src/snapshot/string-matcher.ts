// StringMatch → a precompiled test. Precedence as Kthena: exact, then prefix, then regex; `{}` matches anything.
import { compileMatchRegex } from '../resources/regex.ts';
import type { StringMatch } from '../resources/types.ts';
import type { StringMatcher } from './types.ts';

const matchAnything: StringMatcher = () => true;
const matchNothing: StringMatcher = () => false;
const NON_ASCII = /[^ -~\t]/; // a byte outside printable ASCII (and tab): may be UTF-8

/** For a request's URI (and any value that is already text). */
export function compileStringMatch(match: StringMatch): StringMatcher {
  if (match.exact !== undefined) {
    const exact = match.exact;
    return (value) => value === exact;
  }
  if (match.prefix !== undefined) {
    const prefix = match.prefix;
    return (value) => value.startsWith(prefix);
  }
  if (match.regex !== undefined) {
    const compiled = compileMatchRegex(match.regex);
    // Validation rejects patterns that do not compile, so this only guards against a caller that skipped it.
    return compiled.ok ? compiled.test : matchNothing;
  }
  return matchAnything;
}

/**
 * For a header value as Node gives it: each byte as one Latin-1 character. Go's router compares and matches the
 * bytes themselves (UTF-8 text), so exact and prefix compare against the configured text's UTF-8 bytes spelt the
 * same way (no work per request), and a regex sees the bytes as UTF-8 when the value is not plain ASCII.
 */
export function compileHeaderMatch(match: StringMatch): StringMatcher {
  if (match.exact !== undefined) {
    const exact = asLatin1(match.exact);
    return (value) => value === exact;
  }
  if (match.prefix !== undefined) {
    const prefix = asLatin1(match.prefix);
    return (value) => value.startsWith(prefix);
  }
  if (match.regex !== undefined) {
    const compiled = compileMatchRegex(match.regex);
    if (!compiled.ok) return matchNothing;
    const test = compiled.test;
    return (value) => (NON_ASCII.test(value) ? compiled.testBytes(Buffer.from(value, 'latin1')) : test(value));
  }
  return matchAnything;
}

function asLatin1(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
