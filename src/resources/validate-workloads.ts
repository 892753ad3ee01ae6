// Kthena's validating-webhook checks for ModelServer, and the checks on Pod stubs.
import type { FieldPath } from './field-path.ts';
import { labelKeyProblem, labelValueProblem } from './kubernetes-names.ts';
import { errorAt, type FieldProblem } from './problem.ts';
import { BOOTSTRAP_PORT_ANNOTATION, KV_EVENTS_PORT_ANNOTATION, KV_REPLAY_PORT_ANNOTATION, PORT_ANNOTATION, type ModelServer, type PodStub } from './types.ts';

export function validateModelServer(server: ModelServer): FieldProblem[] {
  const { matchLabels, pdGroup } = server.spec.workloadSelector;
  const selectorPath = ['spec', 'workloadSelector'];
  const problems = validateLabels(
    matchLabels,
    [...selectorPath, 'matchLabels'],
    'must have at least one label; an empty selector would select every pod in the namespace',
  );
  if (pdGroup) {
    const groupPath = [...selectorPath, 'pdGroup'];
    if (pdGroup.groupKey === '') {
      problems.push(errorAt([...groupPath, 'groupKey'], 'must not be empty when pdGroup is set'));
    } else {
      const problem = labelKeyProblem(pdGroup.groupKey);
      if (problem) problems.push(errorAt([...groupPath, 'groupKey'], problem));
    }
    problems.push(...validateLabels(pdGroup.prefillLabels, [...groupPath, 'prefillLabels'], 'must have at least one label'));
    problems.push(...validateLabels(pdGroup.decodeLabels, [...groupPath, 'decodeLabels'], 'must have at least one label'));
  }
  problems.push(...[KV_EVENTS_PORT_ANNOTATION, KV_REPLAY_PORT_ANNOTATION].flatMap((name) => portAnnotationProblems(server.metadata.annotations, name)));
  return problems;
}

function validateLabels(labels: Readonly<Record<string, string>>, path: FieldPath, whenEmpty: string): FieldProblem[] {
  const entries = Object.entries(labels);
  if (entries.length === 0) return [errorAt(path, whenEmpty)];
  return entries.flatMap(([key, value]) => {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    return problem ? [errorAt([...path, key], problem)] : [];
  });
}

export function validatePodStub(pod: PodStub): FieldProblem[] {
  return [PORT_ANNOTATION, BOOTSTRAP_PORT_ANNOTATION, KV_EVENTS_PORT_ANNOTATION, KV_REPLAY_PORT_ANNOTATION].flatMap((name) =>
    portAnnotationProblems(pod.metadata.annotations, name),
  );
}

function portAnnotationProblems(annotations: Readonly<Record<string, string>>, annotation: string): FieldProblem[] {
  const port = annotations[annotation];
  if (port === undefined) return [];
  const value = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
  if (value >= 1 && value <= 65535) return [];
  return [errorAt(['metadata', 'annotations', annotation], `must be a port number from 1 to 65535, got ${JSON.stringify(port)}`)];
}
