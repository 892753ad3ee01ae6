// Shared by the resources tests: build YAML from objects and compare issues compactly.
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseResourceDocuments } from './load-documents.ts';
import { API_VERSION, type ConfigIssue, type Resource } from './types.ts';

export type ExpectedIssue = readonly [severity: ConfigIssue['severity'], path: string, messageFragment: string];

export const baseRouteSpec = () => ({ modelName: 'm', rules: [{ targetModels: [{ modelServerName: 's' }] }] });
export const baseServerSpec = () => ({
  workloadSelector: { matchLabels: { app: 'a' } },
  workloadPort: { port: 8000 },
  inferenceEngine: 'vLLM',
});
export const baseProviderSpec = () => ({ baseURL: 'https://api.openai.com/v1' });

/** YAML for one object of our API group, named "x" in namespace "default". */
export function yamlOf(kind: string, spec: unknown, extra: Record<string, unknown> = {}): string {
  return stringify({ apiVersion: API_VERSION, kind, metadata: { name: 'x' }, spec, ...extra });
}

export function load(text: string, file = 'test.yaml'): { resources: Resource[]; issues: ConfigIssue[] } {
  const result = parseResourceDocuments(text, file, 0);
  return { resources: result.resources.map((loaded) => loaded.resource), issues: result.issues };
}

/** Same number of issues, in order, each with the severity and path given and a message containing the fragment. */
export function assertIssues(actual: readonly ConfigIssue[], expected: readonly ExpectedIssue[]): void {
  const shown = actual.map((issue) => `${issue.severity} ${issue.path}: ${issue.message}`);
  assert.equal(actual.length, expected.length, `expected ${expected.length} issue(s), got:\n${shown.join('\n')}`);
  expected.forEach(([severity, path, fragment], index) => {
    const issue = actual[index];
    assert.ok(issue);
    assert.equal(issue.severity, severity, shown[index]);
    assert.equal(issue.path, path, shown[index]);
    assert.ok(issue.message.includes(fragment), `message of issue ${index} should contain ${JSON.stringify(fragment)}: ${shown[index]}`);
  });
}

/** [dotted path such as "rules.0.targetModels.0.weight", new value]; undefined deletes the field. */
export type Edit = readonly [path: string, value: unknown];

export function withEdits<T extends object>(target: T, edits: readonly Edit[]): T {
  for (const [path, value] of edits) {
    const keys = path.split('.');
    const last = keys.pop() ?? '';
    let node: unknown = target;
    for (const key of keys) {
      assert.ok(typeof node === 'object' && node !== null, `cannot follow ${path} in the fixture`);
      node = (node as Record<string, unknown>)[key];
    }
    assert.ok(typeof node === 'object' && node !== null, `cannot follow ${path} in the fixture`);
    const parent = node as Record<string, unknown>;
    if (value === undefined) delete parent[last];
    else parent[last] = value;
  }
  return target;
}
