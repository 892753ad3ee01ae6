import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SecretDocument } from './types.ts';
import { assertIssues, load } from './test-helpers.ts';

describe('v1 Secret documents', () => {
  it('decodes data, merges stringData over it, and loads real Secret YAML silently', () => {
    const { resources, issues } = load(`apiVersion: v1
kind: Secret
metadata: {name: key, namespace: ai, labels: {networking.serving.volcano.sh/external-model-provider-credential: "true"}}
type: Opaque
immutable: true
data: {token: ${Buffer.from('sk-123').toString('base64')}, both: ${Buffer.from('from-data').toString('base64')}}
stringData: {both: from-stringData}
`);
    assertIssues(issues, []);
    const secret = resources[0] as SecretDocument;
    assert.equal(secret.kind, 'Secret');
    assert.equal(secret.metadata.namespace, 'ai');
    assert.deepEqual(secret.values, { token: 'sk-123', both: 'from-stringData' });
  });

  it('names a data value that is not base64', () => {
    const { resources, issues } = load('apiVersion: v1\nkind: Secret\nmetadata: {name: key}\ndata: {token: "not base64!"}\n');
    assert.equal(resources.length, 0);
    assertIssues(issues, [['error', 'data.token', 'must be base64']]);
  });

  it('never quotes a value in its errors (they are logged): the type alone is named', () => {
    const { resources, issues } = load([
      'apiVersion: v1\nkind: Secret\nmetadata: {name: whole}\ndata: "sk-secret-whole-data"\n',
      'apiVersion: v1\nkind: Secret\nmetadata: {name: listed}\nstringData: ["sk-secret-in-a-list"]\ntype: 12345\n',
    ].join('---\n'));
    assert.equal(resources.length, 0);
    assertIssues(issues, [
      ['error', 'data', 'must be a mapping, got a string'],
      ['error', 'type', 'must be a string, got a number'],
      ['error', 'stringData', 'must be a mapping, got a list'],
    ]);
    for (const issue of issues) assert.doesNotMatch(issue.message, /sk-secret|12345/);
  });
});
