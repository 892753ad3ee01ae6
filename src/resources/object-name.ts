// "ModelRoute default/deepseek-simple": how messages name an object.
import type { Resource } from './types.ts';
import { isPlainObject } from './unknown-fields.ts';

export function nameOfResource(resource: Resource): string {
  return `${resource.kind} ${resource.metadata.namespace}/${resource.metadata.name}`;
}

/** Best effort for raw input that may be invalid: the kind alone when the name is unknown. */
export function nameOfRawObject(value: unknown): string | undefined {
  if (!isPlainObject(value) || typeof value.kind !== 'string' || value.kind === '') return undefined;
  const metadata = isPlainObject(value.metadata) ? value.metadata : {};
  const { name, namespace } = metadata;
  if (typeof name !== 'string' || name === '') return value.kind;
  return `${value.kind} ${typeof namespace === 'string' && namespace !== '' ? namespace : 'default'}/${name}`;
}
