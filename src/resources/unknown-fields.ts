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

export function findUnknownFields(schema: z.core.$ZodType, value: unknown, path: FieldPath = []): FieldPath[] {
  if (
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodNullable ||
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault
  ) {
    return findUnknownFields(schema.unwrap(), value, path);
  }
  if (schema instanceof z.ZodPipe) return findUnknownFields(schema.in, value, path);
  if (schema instanceof z.ZodArray) {
    if (!Array.isArray(value)) return [];
    return value.flatMap((item, index) => findUnknownFields(schema.element, item, [...path, index]));
  }
  if (!isPlainObject(value)) return [];
  if (schema instanceof z.ZodRecord) {
    return Object.entries(value).flatMap(([key, item]) => findUnknownFields(schema.valueType, item, [...path, key]));
  }
  if (schema instanceof z.ZodObject) {
    const shape: Readonly<Record<string, z.core.$ZodType>> = schema.shape;
    const ignored = keysIgnoredSilently.get(schema);
    return Object.entries(value).flatMap(([key, item]) => {
      const fieldSchema = Object.hasOwn(shape, key) ? shape[key] : undefined;
      if (fieldSchema) return findUnknownFields(fieldSchema, item, [...path, key]);
      return ignored?.has(key) ? [] : [[...path, key]];
    });
  }
  return [];
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
