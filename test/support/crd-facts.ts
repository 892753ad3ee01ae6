// The facts of a CRD that decide what the API server admits, stores and prints, as one flat row per field path
// ("spec.rules[].targetModels[].weight"; "[]" = array items, "{}" = map values) plus one row for the CRD itself.
// test/kube/kthena-crd-facts.ts records Kthena's CRDs with it; test/kthena-crd-compat.test.ts compares deploy/'s.
import { isDeepStrictEqual } from 'node:util';

type Json = Record<string, unknown>;

/** One field: its type and every rule on it, descriptions left out. */
export interface FieldFacts {
  kind: string;
  path: string;
  type?: string;
  required?: true;
  format?: string;
  enum?: unknown[];
  pattern?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-map-type'?: string;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message?: string }[];
  /** Schema keywords this table does not model (anyOf, not, …): present means someone must look. */
  other?: Json;
}

/** The CRD as a whole: names, scope, versions, subresources, printer columns. */
export interface CrdFacts {
  kind: string;
  path: '(crd)';
  group: string;
  names: { kind: string; listKind?: string; plural: string; singular?: string; shortNames?: string[]; categories?: string[] };
  scope: string;
  versions: { name: string; served: boolean; storage: boolean; subresources?: unknown; additionalPrinterColumns?: unknown[] }[];
}

export type FactsRow = CrdFacts | FieldFacts;

const COPIED = [
  'type', 'format', 'pattern', 'default', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems',
  'minProperties', 'maxProperties', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-map-type',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-int-or-string', 'x-kubernetes-embedded-resource',
] as const;
const WALKED = new Set(['properties', 'items', 'additionalProperties', 'required', 'description', 'enum', 'allOf', 'x-kubernetes-validations', ...COPIED]);

/** Every row of one CRD object (as parsed from its YAML). */
export function crdFacts(crd: Json): FactsRow[] {
  const spec = crd.spec as Json;
  const names = spec.names as CrdFacts['names'];
  const versions = spec.versions as Json[];
  const crdRow: CrdFacts = {
    kind: names.kind,
    path: '(crd)',
    group: spec.group as string,
    names: sortedKeys(names),
    scope: spec.scope as string,
    versions: versions.map((v) => ({
      name: v.name as string,
      served: v.served as boolean,
      storage: v.storage as boolean,
      ...(v.subresources !== undefined && { subresources: v.subresources }),
      ...(v.additionalPrinterColumns !== undefined && { additionalPrinterColumns: (v.additionalPrinterColumns as Json[]).map(withoutDescription) }),
    })),
  };
  const rows: FactsRow[] = [crdRow];
  for (const version of versions) {
    const root = (version.schema as Json).openAPIV3Schema as Json;
    walk(names.kind, root, '', false, rows);
  }
  return rows;
}

function walk(kind: string, node: Json, path: string, required: boolean, rows: FactsRow[]): void {
  const row: FieldFacts = { kind, path };
  for (const key of COPIED) if (node[key] !== undefined) (row as unknown as Json)[key] = node[key];
  if (required) row.required = true;
  const enums = [node.enum, ...((node.allOf as Json[] | undefined) ?? []).map((part) => part.enum)].filter((e) => e !== undefined) as unknown[][];
  // controller-gen repeats an enum marker as allOf of enums; the values admitted are their intersection.
  if (enums.length > 0) row.enum = enums.reduce((all, next) => all.filter((value) => next.some((v) => isDeepStrictEqual(v, value))));
  if (node['x-kubernetes-validations'] !== undefined) {
    row['x-kubernetes-validations'] = (node['x-kubernetes-validations'] as Json[]).map((v) => ({ rule: v.rule as string, ...(v.message !== undefined && { message: v.message as string }) }));
  }
  const other = Object.fromEntries(Object.entries(node).filter(([key]) => !WALKED.has(key)));
  for (const part of (node.allOf as Json[] | undefined) ?? []) {
    if (Object.keys(part).some((key) => key !== 'enum')) other.allOf = node.allOf;
  }
  if (Object.keys(other).length > 0) row.other = other;
  rows.push(row);
  const requiredNames = new Set((node.required as string[] | undefined) ?? []);
  for (const [name, child] of Object.entries((node.properties as Record<string, Json> | undefined) ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    walk(kind, child, path === '' ? name : `${path}.${name}`, requiredNames.has(name), rows);
  }
  if (node.items !== undefined) walk(kind, node.items as Json, `${path}[]`, false, rows);
  if (typeof node.additionalProperties === 'object') walk(kind, node.additionalProperties as Json, `${path}{}`, false, rows);
}

function withoutDescription(column: Json): Json {
  const { description: _description, ...rest } = column;
  return sortedKeys(rest);
}

function sortedKeys<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) as T;
}

/** One JSON object a line, keys in a stable order: the committed table. */
export function formatFacts(rows: readonly FactsRow[]): string {
  return rows.map((row) => JSON.stringify(row)).join('\n') + '\n';
}

export function parseFacts(text: string): FactsRow[] {
  return text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#')).map((line) => JSON.parse(line) as FactsRow);
}

export function isCrdRow(row: FactsRow): row is CrdFacts {
  return row.path === '(crd)';
}
