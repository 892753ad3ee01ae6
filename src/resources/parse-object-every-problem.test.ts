// `validate` names every problem of an object in one run: the semantic checks also run when some fields have the
// wrong type, on the object without those fields, and report what is unrelated to them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResourceObject } from './parse-object.ts';

const route = (spec: object): object => ({ apiVersion: 'networking.serving.volcano.sh/v1alpha1', kind: 'ModelRoute', metadata: { name: 'r1' }, spec });
const errors = (input: object): string[] =>
  parseResourceObject(input)
    .problems.filter((p) => p.severity === 'error')
    .map((p) => `${p.path}: ${p.message}`);

describe('every problem in one run', () => {
  it('reports the semantic errors of other fields beside a type error', () => {
    const found = errors(
      route({
        modelName: 'm1',
        rules: [
          { targetModels: [{ modelServerName: 'ms1', weight: '50' }] },
          {
            modelMatch: { headers: { 'x-tier': { regex: '(?<=x)y' } } },
            targetModels: [{ modelServerName: 'ms1', externalModelProviderName: 'p' }],
          },
        ],
      }),
    );
    assert.ok(found.some((p) => p.startsWith('spec.rules[0].targetModels[0].weight: ')), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('spec.rules[1].modelMatch.headers.x-tier.regex: ')), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('spec.rules[1].targetModels[0]')), found.join('\n'));
  });

  it('says nothing more about a field it had to leave out, nor about what holds it', () => {
    // modelName of the wrong type: without it the route would also "need modelName or loraAdapters".
    const found = errors(route({ modelName: 42, rules: [{ targetModels: [{ modelServerName: 'ms1' }] }] }));
    assert.deepEqual(found.map((p) => p.split(':')[0]), ['spec.modelName']);
  });

  it('gives up the second run when the object without the bad fields does not parse either', () => {
    const found = errors(route({ modelName: 'm1', rules: 'everything' }));
    assert.deepEqual(found.map((p) => p.split(':')[0]), ['spec.rules']);
  });
});
