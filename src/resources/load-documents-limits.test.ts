// What a file that is not YAML, or quotes huge values, makes the router say: a bounded number of bounded messages
// (a 5 MB random file used to produce 12 MB of error text, written again on every reload).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResourceDocuments } from './load-documents.ts';

describe('issue size limits', () => {
  it('reports at most ten YAML syntax errors per file, each short, then how many more there were', () => {
    // Thirty unrelated broken lines, each quoting a long scalar in the parser's message.
    const text = Array.from({ length: 30 }, (_, i) => `${'x'.repeat(5000)}${i} y: [\n}`).join('\n');
    const { issues } = parseResourceDocuments(text, 'junk.yaml', 0);
    assert.equal(issues.length, 11);
    for (const issue of issues.slice(0, 10)) {
      assert.equal(issue.severity, 'error');
      assert.match(issue.message, /^YAML syntax error at line \d+, column \d+: /);
      assert.ok(issue.message.length < 400, `a ${issue.message.length}-character message: ${issue.message.slice(0, 100)}`);
    }
    assert.match(issues[10].message, /^\d+ more YAML syntax errors not shown \(is this a YAML file\?\)$/);
    const more = Number(/^(\d+)/.exec(issues[10].message)?.[1]);
    assert.ok(more > 0);
  });

  it('names an object with a huge name by its first 253 characters', () => {
    const name = 'n'.repeat(100_000);
    const text = `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: ${name}}\nspec:\n  modelName: m\n  rules: [{targetModels: [{modelServerName: s}]}]\n`;
    const { issues, resources } = parseResourceDocuments(text, 'big-name.yaml', 0);
    assert.equal(resources.length, 0);
    assert.ok(issues.length > 0);
    for (const issue of issues) {
      assert.ok(JSON.stringify(issue).length < 2500, `an issue of ${JSON.stringify(issue).length} characters`);
      if (issue.object !== undefined) assert.match(issue.object, /n{200}… \(\d+ characters\)$/);
    }
    assert.ok(issues.some((issue) => issue.path === 'metadata.name' && issue.severity === 'error'), JSON.stringify(issues).slice(0, 500));
  });
});
