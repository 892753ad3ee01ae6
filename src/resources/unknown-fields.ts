// Finds fields a schema does not know. zod strips them silently; in a hand-written YAML file they are
// most likely typos ("wieght", "modelServername"), so they are reported as warnings.
import { z } from 'zod';
import type { FieldPath } from './field-path.ts';

/** Object schemas whose listed keys are valid Kubernetes fields that Switchyard does not read. */
const keysIgnoredSilently = new WeakMap<z.core.$ZodType, ReadonlySet<string>>();

export function ignoringKeys<T extends z.ZodObject>(schema: T, keys: readonly string[]): T {
  keysIgnoredSilently.set(schema, new Set(keys));
  return schema;
}

export function findUnknownFields(schema: z.core.$ZodType, value: unknown): FieldPath[] {
  const paths: FieldPath[] = [];
  walkSchema(schema, value, (fieldSchema, _field, path) => {
    if (fieldSchema === undefined) paths.push(path);
  });
  return paths;
}

/**
 * Calls `visit` with each part of `value` and the schema that reads it (past optional and default wrappers; a pipe
 * and then its input), or undefined for a field the schema does not know and does not ignore.
 */
export function walkSchema(
  schema: z.core.$ZodType,
  value: unknown,
  visit: (schema: z.core.$ZodType | undefined, value: unknown, path: FieldPath) => void,
  path: FieldPath = [],
): void {
  if (
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodNullable ||
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault
  ) {
    walkSchema(schema.unwrap(), value, visit, path);
    return;
  }
  visit(schema, value, path);
  if (schema instanceof z.ZodPipe) {
    walkSchema(schema.in, value, visit, path);
  } else if (schema instanceof z.ZodArray) {
    if (Array.isArray(value)) value.forEach((item, index) => walkSchema(schema.element, item, visit, [...path, index]));
  } else if (schema instanceof z.ZodRecord) {
    if (isPlainObject(value)) for (const [key, item] of Object.entries(value)) walkSchema(schema.valueType, item, visit, [...path, key]);
  } else if (schema instanceof z.ZodObject && isPlainObject(value)) {
    const shape: Readonly<Record<string, z.core.$ZodType>> = schema.shape;
    const ignored = keysIgnoredSilently.get(schema);
    for (const [key, item] of Object.entries(value)) {
      const fieldSchema = Object.hasOwn(shape, key) ? shape[key] : undefined;
      if (fieldSchema) walkSchema(fieldSchema, item, visit, [...path, key]);
      else if (!ignored?.has(key)) visit(undefined, item, [...path, key]);
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
