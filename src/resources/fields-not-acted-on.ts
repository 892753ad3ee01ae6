// Fields of ModelRoutes, ModelServers and ExternalModelProviders that Kthena's controllers write and Switchyard
// does not act on: owner references and finalizers (Kthena's ModelBooster controller), and status, except the
// ExternalModelProvider status fields Switchyard writes itself (conditions, observedGeneration: provider-status.ts).
// They stay in the cluster untouched; the Kubernetes source names them once per object so that nothing is dropped
// silently.
import { isPlainObject } from './unknown-fields.ts';

const METADATA_FIELDS = ['ownerReferences', 'finalizers'] as const;
/** Status fields of an ExternalModelProvider that Switchyard writes, as Kthena's router does. */
const PROVIDER_STATUS_WRITTEN: ReadonlySet<string> = new Set(['conditions', 'observedGeneration']);

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
    const written = object.kind === 'ExternalModelProvider' ? PROVIDER_STATUS_WRITTEN : null;
    for (const field of Object.keys(status).sort()) if (isPresent(status[field]) && written?.has(field) !== true) paths.push(`status.${field}`);
  }
  return paths;
}

function isPresent(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  return !isPlainObject(value) || Object.keys(value).length > 0;
}
