import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseOwners } from './response-owners.ts';

describe('ResponseOwners', () => {
  it('knows the pod of each response, forgetting the oldest beyond its capacity', () => {
    const owners = new ResponseOwners(3);
    for (const [id, pod] of [['a', 'ns/p0'], ['b', 'ns/p1'], ['c', 'ns/p2']]) owners.remember(id, pod);
    owners.remember('a', 'ns/p0'); // seen again: now the newest
    owners.remember('d', 'ns/p1');
    assert.equal(owners.size, 3);
    assert.equal(owners.ownerOf('b'), undefined, 'the oldest is forgotten');
    assert.equal(owners.ownerOf('a'), 'ns/p0');
    assert.equal(owners.ownerOf('d'), 'ns/p1');
    assert.equal(owners.ownerOf('unknown'), undefined);
  });
});
