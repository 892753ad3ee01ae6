// Shared by the filters' config sections: zod issues as ConfigIssues (file + field path) and Go-style durations.
import { z } from 'zod';
import { MAX_TIMER_MS, MAX_TIMER_TEXT, checkGoDuration } from '../resources/duration.ts';
import { formatFieldPath, type FieldPath } from '../resources/field-path.ts';
import type { ConfigIssue } from '../resources/types.ts';
import { readableErrorMap, redactingErrorMap, zodIssues } from '../resources/zod-issues.ts';

export type SectionResult<T> =
  | { readonly ok: true; readonly config: T; readonly issues: readonly ConfigIssue[] }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/** A Go duration ("30s", "1m30s") or a bare number of seconds, as milliseconds; at most the longest timer. */
export const durationMs = z.union([z.number().min(0), z.string()]).transform((value, ctx) => {
  let ms: number;
  if (typeof value === 'number') {
    ms = value * 1000;
  } else {
    const parsed = checkGoDuration(value);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    ms = parsed.ms;
  }
  if (ms < 0 || ms > MAX_TIMER_MS) {
    ctx.addIssue({ code: 'custom', message: `must be between 0 and ${MAX_TIMER_TEXT} (the longest timer), got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});

/**
 * Parses `raw` with `schema`; every issue names the file and the field path under `prefix`. `redactValues`: messages
 * never quote a value (a file of credentials).
 */
export function parseSection<S extends z.ZodType>(schema: S, raw: unknown, file: string, prefix: FieldPath, redactValues = false): SectionResult<z.output<S>> {
  const parsed = schema.safeParse(raw, { error: redactValues ? redactingErrorMap : readableErrorMap, reportInput: true });
  if (parsed.success) return { ok: true, config: parsed.data, issues: [] };
  return { ok: false, issues: zodIssues(parsed.error, prefix, file) };
}


export function issueAt(severity: 'error' | 'warning', file: string, path: FieldPath, message: string): ConfigIssue {
  return { severity, file, path: formatFieldPath(path), message };
}
