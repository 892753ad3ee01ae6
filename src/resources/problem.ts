// A problem found in one object, before it is placed in a file and document (see ConfigIssue).
import { formatFieldPath, type FieldPath } from './field-path.ts';

export interface FieldProblem {
  severity: 'error' | 'warning';
  /** "spec.rules[0].targetModels[1].weight"; empty for the whole object. */
  path: string;
  message: string;
}

export function errorAt(path: FieldPath, message: string): FieldProblem {
  return { severity: 'error', path: formatFieldPath(path), message };
}

export function warningAt(path: FieldPath, message: string): FieldProblem {
  return { severity: 'warning', path: formatFieldPath(path), message };
}
