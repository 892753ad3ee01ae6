// Turns zod issues into messages that read like Kubernetes validation errors.
import type { z } from 'zod';
import { formatFieldPath, type FieldPath } from './field-path.ts';
import { errorAt, type FieldProblem } from './problem.ts';
import type { ConfigIssue } from './types.ts';

const EXPECTED_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** Used as the per-parse error map; messages set on a schema itself take precedence over it. */
export const readableErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${EXPECTED_NAMES[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      if (issue.input === undefined) return 'is required';
      if (issue.values.length === 1) return `must be ${String(issue.values[0])}, got ${describeValue(issue.input)}`;
      return `must be one of ${issue.values.map(String).join(', ')}; got ${describeValue(issue.input)}`;
    case 'too_small':
      return sizeMessage(issue.origin, 'at least', issue.minimum, issue.input);
    case 'too_big':
      return sizeMessage(issue.origin, 'at most', issue.maximum, issue.input);
    default:
      return undefined;
  }
};

/**
 * As readableErrorMap, but a value is described by its type only, never quoted: for documents that hold credentials
 * (Secrets, API key files), whose error messages end up in logs.
 */
export const redactingErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.input === undefined) return readableErrorMap(issue);
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${EXPECTED_NAMES[issue.expected] ?? issue.expected}, got ${typeOfValue(issue.input)}`;
    case 'invalid_value':
      return `must be ${issue.values.length === 1 ? String(issue.values[0]) : `one of ${issue.values.map(String).join(', ')}`}; got another ${typeOfValue(issue.input).replace(/^an? /, '')}`;
    case 'too_small':
    case 'too_big':
      if (issue.origin === 'number') return `must be ${issue.code === 'too_small' ? 'at least' : 'at most'} ${issue.code === 'too_small' ? issue.minimum : issue.maximum}`;
      return readableErrorMap(issue);
    default:
      return undefined;
  }
};

/** The kind of a value, without the value: "a string", "a number", "a list", … */
function typeOfValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number' || typeof value === 'bigint') return 'a number';
  if (typeof value === 'boolean') return 'true or false';
  return typeof value;
}

function sizeMessage(origin: string, bound: 'at least' | 'at most', limit: number | bigint, input: unknown): string {
  if (origin === 'array') {
    const count = Array.isArray(input) ? ` (has ${input.length})` : '';
    return `must have ${bound} ${limit} item${limit === 1 ? '' : 's'}${count}`;
  }
  if (origin === 'string') {
    if (bound === 'at least' && limit === 1) return 'must not be empty';
    const length = typeof input === 'string' ? ` (has ${input.length})` : '';
    return `must be ${bound} ${limit} characters long${length}`;
  }
  return `must be ${bound} ${limit}, got ${describeValue(input)}`;
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value;
}

/**
 * One problem per field: the first issue, which is the type error when there is one. zod still runs a failed type's
 * checks on the input (`max(16)` on a list reports a string's length) and reports every failed check of a string.
 */
export function problemsFromZodError(error: z.ZodError): FieldProblem[] {
  const problems = new Map<string, FieldProblem>();
  for (const issue of error.issues) {
    const problem = errorAt(issue.path, issue.message);
    if (!problems.has(problem.path)) problems.set(problem.path, problem);
  }
  return [...problems.values()];
}

/**
 * A configuration file's section (the router configuration, a filter's section) as issues naming `file` and the field
 * under `prefix`: one per field, as problemsFromZodError, and one per unknown key.
 */
export function zodIssues(error: z.ZodError, prefix: FieldPath, file: string): ConfigIssue[] {
  const issues = new Map<string, ConfigIssue>();
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = formatFieldPath([...path, key]);
        if (!issues.has(field)) issues.set(field, { severity: 'error', file, path: field, message: 'unknown field' });
      }
      continue;
    }
    const field = formatFieldPath(path);
    if (!issues.has(field)) issues.set(field, { severity: 'error', file, path: field, message: issue.message });
  }
  return [...issues.values()];
}
