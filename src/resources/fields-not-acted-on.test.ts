import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldsNotActedOn } from './fields-not-acted-on.ts';

describe('fieldsNotActedOn', () => {
  it('names owner references, finalizers and each status field present', () => {
    const object = {
      metadata: { name: 'r', ownerReferences: [{ kind: 'ModelBooster', name: 'qwen' }], finalizers: ['example.com/audit'], labels: { a: 'b' } },
      spec: { modelName: 'm' },
      status: { observedGeneration: 2, conditions: [{ type: 'Ready' }] },
    };
    assert.deepEqual(fieldsNotActedOn(object), ['metadata.ownerReferences', 'metadata.finalizers', 'status.conditions', 'status.observedGeneration']);
  });

  it("leaves out an ExternalModelProvider's conditions and observedGeneration, which Switchyard writes", () => {
    const provider = { kind: 'ExternalModelProvider', metadata: { name: 'p' }, status: { observedGeneration: 2, conditions: [{ type: 'Ready' }], other: 'x' } };
    assert.deepEqual(fieldsNotActedOn(provider), ['status.other']);
  });

  it('leaves out empty and absent ones', () => {
    assert.deepEqual(fieldsNotActedOn({ metadata: { name: 'r', finalizers: [] }, status: {} }), []);
    assert.deepEqual(fieldsNotActedOn({ metadata: { name: 'r' }, status: { conditions: [] } }), []);
    assert.deepEqual(fieldsNotActedOn('not an object'), []);
  });
});
