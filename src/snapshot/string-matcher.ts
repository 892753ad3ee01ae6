// StringMatch → a precompiled test. Precedence as Kthena: exact, then prefix, then regex; `{}` matches anything.
import { compileMatchRegex } from '../resources/regex.ts';
import type { StringMatch } from '../resources/types.ts';
import type { StringMatcher } from './types.ts';

const matchAnything: StringMatcher = () => true;

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
    if (!compiled.ok) return () => false;
    const regex = compiled.regex;
    return (value) => regex.test(value);
  }
  return matchAnything;
}
