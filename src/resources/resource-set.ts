// Checks across documents and files. References between objects (route → ModelServer) are deliberately
// not checked: a route may name a server that arrives later, and at request time that is a 404.
import { nameOfResource } from './object-name.ts';
import type { ConfigIssue, LoadedResource, ResourceOrigin } from './types.ts';

export function validateResourceSet(resources: readonly LoadedResource[]): ConfigIssue[] {
  const firstDefinition = new Map<string, LoadedResource>();
  const issues: ConfigIssue[] = [];
  const inLoadOrder = [...resources].sort((a, b) => a.origin.loadOrder - b.origin.loadOrder);
  for (const loaded of inLoadOrder) {
    const { kind, metadata } = loaded.resource;
    const key = `${kind}/${metadata.namespace}/${metadata.name}`;
    const first = firstDefinition.get(key);
    if (!first) {
      firstDefinition.set(key, loaded);
      continue;
    }
    issues.push({
      severity: 'error',
      file: loaded.origin.file,
      documentIndex: loaded.origin.documentIndex,
      object: nameOfResource(loaded.resource),
      path: '',
      message: `defined twice: first in ${describeOrigin(first.origin)}, again in ${describeOrigin(loaded.origin)}`,
    });
  }
  return issues;
}

function describeOrigin(origin: ResourceOrigin): string {
  return `${origin.file} document ${origin.documentIndex}`;
}
