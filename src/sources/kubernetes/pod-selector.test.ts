import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelServer } from '../../resources/types.ts';
import { derivePodSelector } from './pod-selector.ts';
import { podStubOf } from './pod-stub.ts';

const server = (matchLabels: Record<string, string>) => ({ spec: { workloadSelector: { matchLabels } } }) as unknown as ModelServer;

describe('derivePodSelector', () => {
  it('selects on a label key every ModelServer uses, with each of their values', () => {
    assert.equal(derivePodSelector([server({ app: 'a', tier: 'gpu' }), server({ app: 'b' }), server({ app: 'a' })]), 'app in (a,b)');
  });

  it('prefers the common key with the fewest values', () => {
    assert.equal(derivePodSelector([server({ app: 'a', team: 'x' }), server({ app: 'b', team: 'x' })]), 'team in (x)');
  });

  it('watches every pod when no key is shared, or there is no ModelServer', () => {
    assert.equal(derivePodSelector([server({ app: 'a' }), server({ role: 'b' })]), undefined);
    assert.equal(derivePodSelector([]), undefined);
  });
});

describe('podStubOf', () => {
  it('reads a Pod as the kubelet reports it; no Ready condition or no phase is not ready', () => {
    const stub = podStubOf({
      metadata: { name: 'p', namespace: 'ns', labels: { app: 'a' }, deletionTimestamp: new Date('2025-01-01T00:00:00Z') },
      status: { podIP: '10.1.2.3', phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    assert.deepEqual(stub.status, { podIP: '10.1.2.3', phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
    assert.equal(stub.metadata.deletionTimestamp, '2025-01-01T00:00:00.000Z');
    const fresh = podStubOf({ metadata: { name: 'q', namespace: 'ns' } });
    assert.deepEqual(fresh.status, { phase: 'Pending', conditions: [{ type: 'Ready', status: 'Unknown' }] });
  });
});
