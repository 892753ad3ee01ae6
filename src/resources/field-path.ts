// Field paths in messages, in the form platform engineers know from kubectl:
// spec.rules[0].targetModels[1].weight, matchLabels["app.kubernetes.io/name"].

/** Keys that read unambiguously after a dot; anything else (dots, slashes, spaces) is bracket-quoted. */
const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

export type FieldPath = readonly PropertyKey[];

export function formatFieldPath(segments: FieldPath): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') {
      out += `[${segment}]`;
    } else {
      const key = String(segment);
      if (PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** Joins a prefix (such as "items[2]") and a path relative to it. */
export function joinFieldPath(prefix: string, path: string): string {
  if (prefix === '') return path;
  if (path === '') return prefix;
  return path.startsWith('[') ? `${prefix}${path}` : `${prefix}.${path}`;
}
