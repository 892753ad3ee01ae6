// Writes deploy/crds/*.yaml from the zod resource models (src/resources/), so the CRDs and the router's validation
// are one source of truth: `node deploy/generate-crds.ts`. The spec schema becomes a structural OpenAPI v3 schema.
// test/e2e/kube-deploy.test.ts applies the result to a real API server and checks the schemas field by field.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { z } from 'zod';
import { externalModelProviderSchema } from '../src/resources/schema-external-model-provider.ts';
import { modelRouteSchema } from '../src/resources/schema-model-route.ts';
import { modelServerSchema } from '../src/resources/schema-model-server.ts';
import { emptyStatusSchema, externalModelProviderStatusSchema } from '../src/resources/schema-status.ts';
import { API_GROUP } from '../src/resources/types.ts';

const AGE_COLUMN = { jsonPath: '.metadata.creationTimestamp', name: 'Age', type: 'date' };

/** Each kind as Kthena's CRD declares it: printer columns, status, whether spec is required (test/kube/kthena-crd-facts.jsonl). */
export const CRD_KINDS = [
  {
    kind: 'ModelRoute', plural: 'modelroutes', singular: 'modelroute', schema: modelRouteSchema, status: emptyStatusSchema,
    specRequired: true, printerColumns: [AGE_COLUMN],
  },
  {
    kind: 'ModelServer', plural: 'modelservers', singular: 'modelserver', schema: modelServerSchema, status: emptyStatusSchema,
    specRequired: false,
    printerColumns: [
      { description: 'Inference engine used to serve the model', jsonPath: '.spec.inferenceEngine', name: 'Engine', type: 'string' },
      { description: 'Model server port', jsonPath: '.spec.workloadPort.port', name: 'Port', type: 'integer' },
      { description: 'Model server protocol', jsonPath: '.spec.workloadPort.protocol', name: 'Protocol', type: 'string' },
      AGE_COLUMN,
    ],
  },
  {
    kind: 'ExternalModelProvider', plural: 'externalmodelproviders', singular: 'externalmodelprovider', schema: externalModelProviderSchema,
    status: externalModelProviderStatusSchema, specRequired: false, printerColumns: [],
  },
] as const;

type Json = Record<string, unknown>;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * What the zod models check in code but Kthena's CRDs also state in the schema (CEL rules, defaults the API
 * server applies), by property path below spec ("[]" = array items). The router checks the same again per object.
 */
const SCHEMA_RULES: Readonly<Record<string, Record<string, readonly Json[]>>> = {
  ModelRoute: {
    '': [{ rule: '(has(self.modelName) && self.modelName != "") || (has(self.loraAdapters) && size(self.loraAdapters) > 0)', message: 'ModelName and LoraAdapters cannot both be empty' }],
    modelName: [{ rule: 'self == oldSelf', message: 'modelName is immutable' }],
    'rules[].targetModels[]': [{
      rule: '(has(self.modelServerName) && self.modelServerName != "") != (has(self.externalModelProviderName) && self.externalModelProviderName != "")',
      message: 'exactly one of modelServerName or externalModelProviderName must be set',
    }],
  },
  ExternalModelProvider: {
    auth: [{ rule: '!has(self.secretRef.optional) || !self.secretRef.optional', message: 'secretRef.optional must be false or unset' }],
  },
  ModelServer: {},
};
const SERVER_DEFAULTS: Readonly<Record<string, Record<string, unknown>>> = {
  ModelServer: { 'trafficPolicy.retry.retryInterval': '100ms' },
};
/** Fields with a default that Kthena's CRDs also list as required (the default is applied first, so never missing). */
const REQUIRED_WITH_DEFAULT: Readonly<Record<string, readonly string[]>> = {
  ModelRoute: ['rateLimit.unit'],
};

function at(schema: Json, path: string): Json {
  let node = schema;
  for (const part of path.split('.').filter(Boolean)) {
    const name = part.replace(/\[\]$/, '');
    node = (node.properties as Record<string, Json>)[name];
    for (let i = part.indexOf('[]'); i >= 0; i = part.indexOf('[]', i + 2)) node = node.items as Json;
  }
  return node;
}

/** JSON Schema (draft 2020-12, from zod) → Kubernetes structural schema. */
export function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === '$schema' || key === 'propertyNames' || key === 'id' || key === 'description') continue;
    if (key === 'const') out.enum = [value];
    else if (key === 'additionalProperties' && value === false) continue;
    // JavaScript escapes "/" in a RegExp's source; RE2 needs no escape there, and Kthena's patterns have none.
    else if (key === 'pattern' && typeof value === 'string') out.pattern = value.replaceAll('\\/', '/');
    else if (key === 'anyOf' || key === 'oneOf') {
      // Nullable or alternative shapes: keep the first typed alternative (zod's optional/nullable wrappers).
      const typed = (value as Json[]).filter((v) => v.type !== 'null');
      Object.assign(out, toStructural(typed[0] ?? {}));
    } else out[key] = toStructural(value);
  }
  if (out.type === 'integer') {
    // int32 (or int64 where a model says so) as Kthena's Go types: the format, not bounds that only restate it.
    if (typeof out.minimum === 'number' && out.minimum <= INT32_MIN) delete out.minimum;
    if (typeof out.maximum === 'number' && out.maximum >= INT32_MAX) delete out.maximum;
    out.format ??= 'int32';
  }
  if (isEmptyObject(out.properties)) delete out.properties;
  // zod fills empty lists and maps itself; the API server storing them would only differ from Kthena's objects.
  if ((Array.isArray(out.default) && out.default.length === 0) || (isEmptyObject(out.default) && out.type === 'object')) delete out.default;
  return out;
}

function isEmptyObject(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0;
}

export function crdOf(entry: (typeof CRD_KINDS)[number]): Json {
  const json = z.toJSONSchema(entry.schema, { io: 'input', unrepresentable: 'any' }) as Json;
  const spec = toStructural((json.properties as Json).spec) as Json;
  const status = toStructural(z.toJSONSchema(entry.status, { io: 'input' })) as Json;
  for (const [path, rules] of Object.entries(SCHEMA_RULES[entry.kind] ?? {})) at(spec, path)['x-kubernetes-validations'] = rules;
  for (const [path, value] of Object.entries(SERVER_DEFAULTS[entry.kind] ?? {})) at(spec, path).default = value;
  for (const path of REQUIRED_WITH_DEFAULT[entry.kind] ?? []) {
    const parent = at(spec, path.split('.').slice(0, -1).join('.'));
    parent.required = [...((parent.required as string[] | undefined) ?? []), path.split('.').at(-1)!];
  }
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${entry.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: { kind: entry.kind, listKind: `${entry.kind}List`, plural: entry.plural, singular: entry.singular },
      scope: 'Namespaced',
      versions: [{
        name: 'v1alpha1',
        ...(entry.printerColumns.length > 0 && { additionalPrinterColumns: entry.printerColumns }),
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec,
              status,
            },
            ...(entry.specRequired && { required: ['spec'] }),
          },
        },
      }],
    },
  };
}

/** The file of one CRD and the text it must hold. */
export function crdFile(entry: (typeof CRD_KINDS)[number]): { file: URL; text: string } {
  return {
    file: new URL(`crds/${API_GROUP}_${entry.plural}.yaml`, import.meta.url),
    text: `# Generated by deploy/generate-crds.ts from src/resources/; do not edit.\n${stringify(crdOf(entry), { lineWidth: 0 })}`,
  };
}

if (import.meta.main) {
  for (const entry of CRD_KINDS) {
    const { file, text } = crdFile(entry);
    writeFileSync(file, text);
  }
}
