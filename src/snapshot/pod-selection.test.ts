import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PodStub } from '../resources/types.ts';
import { toEndpoint } from './pod-selection.ts';

const pod = (containerStatuses?: PodStub['status']['containerStatuses']): PodStub => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', labels: {}, annotations: {} },
  status: { podIP: '10.0.0.1', ...(containerStatuses !== undefined && { containerStatuses }) },
});

describe('toEndpoint', () => {
  it('carries the latest start of the running containers, in unix seconds', () => {
    const endpoint = toEndpoint(pod([
      { state: { running: { startedAt: '2026-12-05T01:00:00Z' } } },
      { state: { running: { startedAt: '2026-12-05T02:00:00.900Z' } } },
      { state: {} },
    ]), 8000);
    assert.equal(endpoint.startedAt, Date.parse('2026-12-05T02:00:00Z') / 1000);
  });

  it('leaves the start time out when no container is known to run', () => {
    assert.equal('startedAt' in toEndpoint(pod(), 8000), false);
    assert.equal('startedAt' in toEndpoint(pod([{ state: {} }]), 8000), false);
  });
});
