// Semantic checks of one parsed resource: Kthena's validating webhook, plus Switchyard's warnings.
import type { FieldProblem } from './problem.ts';
import type { Resource } from './types.ts';
import { validateExternalModelProvider } from './validate-external-model-provider.ts';
import { validateModelRoute } from './validate-model-route.ts';
import { validateModelServer, validatePodStub } from './validate-workloads.ts';

export { validateExternalModelProvider, validateModelRoute, validateModelServer, validatePodStub };

export function validateResource(resource: Resource): FieldProblem[] {
  switch (resource.kind) {
    case 'ModelRoute':
      return validateModelRoute(resource);
    case 'ModelServer':
      return validateModelServer(resource);
    case 'ExternalModelProvider':
      return validateExternalModelProvider(resource);
    case 'Pod':
      return validatePodStub(resource);
    case 'Secret':
      return [];
  }
}
