// Fields of ModelRoutes, ModelServers and ExternalModelProviders that Kthena's controllers write and Switchyard
// does not act on: owner references and finalizers (Kthena's ModelBooster controller), and status (Kthena's router
// writes ExternalModelProvider conditions; Switchyard writes no status). They stay in the cluster untouched; the
// Kubernetes source names them once per object so that nothing is dropped silently.
import { isPlainObject } from './unknown-fields.ts';

const METADATA_FIELDS = ['ownerReferences', 'finalizers'] as const;

/** Paths such as "metadata.ownerReferences" and "status.conditions" present (and not empty) in a raw object. */
export function fieldsNotActedOn(object: unknown): string[] {
  if (!isPlainObject(object)) return [];
  const paths: string[] = [];
  const metadata = object.metadata;
  if (isPlainObject(metadata)) {
    for (const field of METADATA_FIELDS) if (isPresent(metadata[field])) paths.push(`metadata.${field}`);
  }
  const status = object.status;
  if (isPlainObject(status)) {
    for (const field of Object.keys(status).sort()) if (isPresent(status[field])) paths.push(`status.${field}`);
  }
  return paths;
}

function isPresent(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  return !isPlainObject(value) || Object.keys(value).length > 0;
}
