import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { podStubOf } from './pod-stub.ts';

describe('podStubOf', () => {
  const pod = (containerStatuses?: unknown[]) =>
    podStubOf({
      metadata: { name: 'p', namespace: 'ns' },
      status: { podIP: '10.0.0.1', phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: containerStatuses as never },
    });

  it('keeps the running containers\' start times, as the client library\'s Date objects or as strings', () => {
    const stub = pod([
      { name: 'engine', state: { running: { startedAt: new Date('2026-12-05T01:00:00Z') } } },
      { name: 'sidecar', state: { running: { startedAt: '2026-12-05T02:00:00Z' } } },
      { name: 'init', state: { terminated: { exitCode: 0 } } },
    ]);
    assert.deepEqual(stub.status.containerStatuses, [
      { state: { running: { startedAt: '2026-12-05T01:00:00.000Z' } } },
      { state: { running: { startedAt: '2026-12-05T02:00:00Z' } } },
      {},
    ]);
  });

  it('has no start time when the kubelet reported no container yet', () => {
    assert.equal(pod().status.containerStatuses, undefined);
  });
});
