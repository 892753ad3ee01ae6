import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KvCache, chainHash, rootHash } from './kv-cache.ts';

/** Chain hashes of `blocks` blocks whose tokens are named after `tags` (one tag per block). */
function hashes(tags: string[], adapter: string | null = null): string[] {
  const out: string[] = [];
  let parent = rootHash(adapter);
  for (const tag of tags) {
    parent = chainHash(parent, [tag, tag, tag, tag]);
    out.push(parent);
  }
  return out;
}

/** Allocates one block per hash and registers it, as a sequence filling its prompt would. */
function fill(cache: KvCache, chain: string[]) {
  const blocks = cache.allocate(chain.length);
  assert.ok(blocks, 'blocks available');
  blocks.forEach((block, index) => cache.commit(block, chain[index]));
  return blocks;
}

describe('KvCache', () => {
  it('chains hashes: a block matches only after the same prefix, and adapters never share', () => {
    assert.equal(hashes(['a', 'b'])[1], hashes(['a', 'b'])[1]);
    assert.notEqual(hashes(['a', 'b'])[1], hashes(['x', 'b'])[1]);
    assert.notEqual(hashes(['a'])[0], hashes(['a'], 'lora-1')[0]);
  });

  it('finds the longest cached prefix and shares its blocks', () => {
    const cache = new KvCache(8, 4);
    const chain = hashes(['a', 'b', 'c']);
    const held = fill(cache, chain);
    assert.equal(cache.usedBlocks, 3);
    assert.equal(cache.cachedBlocks, 3);

    const other = hashes(['a', 'b', 'z', 'c']);
    const hit = cache.match((index) => other[index], other.length);
    assert.deepEqual(hit, held.slice(0, 2));
    assert.equal(cache.match((index) => other[index], 1).length, 1, 'maxBlocks caps the match');
    assert.equal(cache.match((index) => hashes(['q'])[index], 1).length, 0);

    cache.acquire(hit);
    assert.deepEqual(held.slice(0, 2).map((block) => block.refs), [2, 2]);
    cache.release(held);
    assert.equal(cache.usedBlocks, 2, 'shared blocks stay in use while someone holds them');
    cache.release(hit);
    assert.equal(cache.usedBlocks, 0);
    assert.equal(cache.cachedBlocks, 3, 'released blocks stay cached');
    assert.equal(cache.usage, 0);
  });

  it('evicts the least recently released blocks first, the tail of a sequence before its head', () => {
    const cache = new KvCache(4, 4);
    const first = hashes(['a', 'b']);
    const second = hashes(['c', 'd']);
    cache.release(fill(cache, first));
    cache.release(fill(cache, second));
    assert.equal(cache.freeBlocks, 4);

    cache.allocate(1); // evicts the tail of the first sequence: block 'b'
    assert.equal(cache.match((index) => first[index], 2).length, 1, "'a' survives, 'b' is gone");
    assert.equal(cache.match((index) => second[index], 2).length, 2);

    // Touching the second sequence makes it recently used: the next evictions take 'a', then the second's tail.
    const touched = cache.match((index) => second[index], 2);
    cache.acquire(touched);
    cache.release(touched);
    cache.allocate(1);
    assert.equal(cache.match((index) => first[index], 2).length, 0);
    assert.equal(cache.match((index) => second[index], 2).length, 2);
    cache.allocate(1);
    assert.equal(cache.match((index) => second[index], 2).length, 1);
    assert.equal(cache.cachedBlocks, 1);
  });

  it('refuses an allocation larger than the free blocks, and counts hits that would leave the free list', () => {
    const cache = new KvCache(4, 4);
    const held = fill(cache, hashes(['a', 'b', 'c']));
    assert.equal(cache.allocate(2), undefined);
    assert.equal(cache.usedBlocks, 3, 'a refused allocation takes nothing');
    assert.equal(cache.usage, 0.75);
    cache.release(held);
    assert.equal(cache.countFree(held.slice(0, 2)), 2);
    assert.equal(cache.blocksFor(9), 3);
  });

  it('keeps the first block registered under a hash, and forgets unused prefixes on reset', () => {
    const cache = new KvCache(4, 4);
    const chain = hashes(['a']);
    const [original] = fill(cache, chain);
    const [duplicate] = cache.allocate(1)!;
    cache.commit(duplicate, chain[0]);
    assert.equal(duplicate.hash, null);
    assert.deepEqual(cache.match((index) => chain[index], 1), [original]);

    cache.release([duplicate]);
    assert.equal(cache.resetPrefixCache(), 0, 'a prefix in use survives the reset');
    cache.release([original]);
    assert.equal(cache.resetPrefixCache(), 1);
    assert.equal(cache.match((index) => chain[index], 1).length, 0);
  });
});
