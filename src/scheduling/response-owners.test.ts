import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseOwners } from './response-owners.ts';

describe('ResponseOwners', () => {
  it('knows the pod, model and caller of each response, forgetting the oldest beyond its capacity', () => {
    const owners = new ResponseOwners(3);
    const owner = (podKey: string) => ({ podKey, server: 'ns/s', model: 'm', user: null, outputUnmetered: false });
    for (const [id, pod] of [['a', 'ns/p0'], ['b', 'ns/p1'], ['c', 'ns/p2']]) owners.remember(id, owner(pod));
    owners.remember('a', owner('ns/p0')); // seen again: now the newest
    owners.remember('d', { podKey: 'ns/p1', server: 'ns/s', model: 'other', user: 'alice', outputUnmetered: true });
    assert.equal(owners.size, 3);
    assert.equal(owners.ownerOf('b'), undefined, 'the oldest is forgotten');
    assert.deepEqual(owners.ownerOf('a'), owner('ns/p0'));
    assert.deepEqual(owners.ownerOf('d'), { podKey: 'ns/p1', server: 'ns/s', model: 'other', user: 'alice', outputUnmetered: true });
    assert.equal(owners.ownerOf('unknown'), undefined);
  });
});
