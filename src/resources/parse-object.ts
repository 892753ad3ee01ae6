// One decoded YAML/JSON object → a typed, validated resource, or the reasons it is not one.
import type { z } from 'zod';
import { formatFieldPath } from './field-path.ts';
import { errorAt, warningAt, type FieldProblem } from './problem.ts';
import { externalModelProviderSchema } from './schema-external-model-provider.ts';
import { modelRouteSchema } from './schema-model-route.ts';
import { modelServerSchema } from './schema-model-server.ts';
import { rewriteDraftForms, type TargetModelOverride } from './proposal-aliases.ts';
import { durationWarnings } from './schema-common.ts';
import { podStubSchema } from './schema-pod.ts';
import { secretSchema } from './schema-secret.ts';
import { API_GROUP, API_VERSION, type Resource, type ResourceKind } from './types.ts';
import { findUnknownFields, isPlainObject } from './unknown-fields.ts';
import { validateResource } from './validate.ts';
import { describeValue, problemsFromZodError, readableErrorMap, redactingErrorMap } from './zod-issues.ts';

interface KindHandling {
  apiVersion: string;
  schema: z.ZodType<Resource>;
  /** Pods come from real manifests full of fields Switchyard ignores; only our own kinds get typo warnings. */
  warnOnUnknownFields: boolean;
  /** Errors never quote a value (a Secret's values are credentials, and errors are logged). */
  redactValues?: boolean;
}

const KINDS: Readonly<Record<ResourceKind, KindHandling>> = {
  ModelRoute: { apiVersion: API_VERSION, schema: modelRouteSchema, warnOnUnknownFields: true },
  ModelServer: { apiVersion: API_VERSION, schema: modelServerSchema, warnOnUnknownFields: true },
  ExternalModelProvider: { apiVersion: API_VERSION, schema: externalModelProviderSchema, warnOnUnknownFields: true },
  Pod: { apiVersion: 'v1', schema: podStubSchema, warnOnUnknownFields: false },
  Secret: { apiVersion: 'v1', schema: secretSchema, warnOnUnknownFields: false, redactValues: true },
};

export interface ParsedObject {
  /** Absent when the object has errors or is of a kind Switchyard does not use. */
  resource?: Resource;
  problems: FieldProblem[];
}

export function parseResourceObject(input: unknown): ParsedObject {
  if (!isPlainObject(input)) {
    return { problems: [errorAt([], `expected a mapping with apiVersion, kind, metadata and spec, got ${describeValue(input)}`)] };
  }
  const value = withoutNullFields(input);
  const { kind, apiVersion } = value;
  if (typeof kind !== 'string' || kind === '') {
    return { problems: [errorAt(['kind'], kind === undefined ? 'is required' : `must be a non-empty string, got ${describeValue(kind)}`)] };
  }
  const handling = Object.hasOwn(KINDS, kind) ? KINDS[kind as ResourceKind] : undefined;
  if (!handling) {
    // kubectl refuses a kind its group does not define; skipping it would drop a route over a typo.
    if (typeof apiVersion === 'string' && apiVersion.startsWith(`${API_GROUP}/`)) return { problems: [errorAt(['kind'], unknownGroupKind(kind))] };
    return { problems: [warningAt([], `kind ${kind} is not used by Switchyard; skipped`)] };
  }
  if (apiVersion !== handling.apiVersion) {
    const got = apiVersion === undefined ? 'it is missing' : `got ${describeValue(apiVersion)}`;
    return { problems: [errorAt(['apiVersion'], `${kind} must have apiVersion ${handling.apiVersion}; ${got}`)] };
  }

  // Forms from drafts of Kthena's proposal become their released equivalents first (with a warning each).
  const draft = rewriteDraftForms(kind, value);
  const warnings = [
    ...(handling.warnOnUnknownFields
      ? findUnknownFields(handling.schema, draft.value).map((path) => warningAt(path, 'unknown field, ignored (check the spelling)'))
      : []),
    ...durationWarnings(handling.schema, draft.value),
  ];
  const parsed = handling.schema.safeParse(draft.value, { error: handling.redactValues === true ? redactingErrorMap : readableErrorMap, reportInput: true });
  if (!parsed.success) {
    const typeProblems = problemsFromZodError(parsed.error);
    return { problems: [...draft.problems, ...typeProblems, ...checksBeyond(handling.schema, draft.value, parsed.error), ...warnings] };
  }
  const resource = withTargetModels(parsed.data, draft.targetModels);
  const problems = [...draft.problems, ...validateResource(resource), ...warnings];
  if (problems.some((problem) => problem.severity === 'error')) return { problems };
  return { resource, problems };
}

/** Kthena's networking group defines these kinds (and their List kinds, which load-documents.ts unwraps). */
const GROUP_KINDS = ['ModelRoute', 'ModelServer', 'ExternalModelProvider'] as const;

function unknownGroupKind(kind: string): string {
  const lower = kind.toLowerCase();
  const meant = GROUP_KINDS.find((known) => lower === known.toLowerCase() || lower === `${known.toLowerCase()}s`);
  const hint = meant === undefined ? '' : `; did you mean ${meant}?`;
  return `${kind} is not a kind of ${API_GROUP} (${GROUP_KINDS.join(', ')})${hint}`;
}

/**
 * The semantic checks an object with field errors would have failed too, so that one run names every problem: run
 * on a copy without the erroneous fields, when that copy parses. Problems on, under or above a removed field are left
 * out (removing `modelName` would otherwise report "needs modelName or loraAdapters" beside its type error).
 */
function checksBeyond(schema: z.ZodType<Resource>, value: Record<string, unknown>, error: z.ZodError): FieldProblem[] {
  const copy = structuredClone(value);
  const removed: string[] = [];
  for (const issue of error.issues) {
    const key = issue.path.at(-1);
    if (typeof key !== 'string') return []; // an element of a list: removing it would shift every later path
    let parent: unknown = copy;
    for (const segment of issue.path.slice(0, -1)) parent = isPlainObject(parent) || Array.isArray(parent) ? (parent as Record<PropertyKey, unknown>)[segment] : undefined;
    if (!isPlainObject(parent)) return [];
    delete parent[key];
    removed.push(formatFieldPath(issue.path));
  }
  const reparsed = schema.safeParse(copy, { error: readableErrorMap });
  if (!reparsed.success) return [];
  const related = (path: string): boolean =>
    removed.some((r) => r === path || path === '' || within(path, r) || within(r, path));
  return validateResource(reparsed.data).filter((problem) => problem.severity === 'error' && !related(problem.path));
}

/** `path` is below `ancestor`. */
function within(path: string, ancestor: string): boolean {
  return path.startsWith(`${ancestor}.`) || path.startsWith(`${ancestor}[`);
}

/** Sets the targets' providerModel from the draft form externalProviderRef.model. */
function withTargetModels(resource: Resource, overrides: readonly TargetModelOverride[]): Resource {
  if (overrides.length === 0 || resource.kind !== 'ModelRoute') return resource;
  const rules = resource.spec.rules.map((rule, r) => ({
    ...rule,
    targetModels: rule.targetModels.map((target, t) => {
      const override = overrides.find((item) => item.rule === r && item.target === t);
      return override === undefined ? target : { ...target, providerModel: override.model };
    }),
  }));
  return { ...resource, spec: { ...resource.spec, rules } };
}

/** Kubernetes reads `field: null` (and a bare `field:` in YAML) as "not set"; so does Switchyard. */
function withoutNullFields(value: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== null) result[key] = withoutNullFieldsIn(item);
  }
  return result;
}

function withoutNullFieldsIn(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNullFieldsIn);
  return isPlainObject(value) ? withoutNullFields(value) : value;
}
