import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kthenaBlockHashes, kthenaBlockKeys, kthenaOwner, matchOwners } from './block-keys.ts';

// Expected values computed with the sidecar's own function (python/kthena/runtime/kv_cache_manager.py,
// compute_standardized_hash: hashlib.sha256 over 4-byte big-endian ids, first 8 bytes, & 0x7FFFFFFFFFFFFFFF).
const RANGE_16 = '6473494984593326032';
const MAX_ID_16 = '461591577787014669';
const FROM_100000 = '7640261047871039049';

describe("Kthena's block keys", () => {
  it('hashes each full block on its own, as the sidecar does', () => {
    const ids = [...Array.from({ length: 16 }, (_, i) => i), ...Array.from({ length: 16 }, (_, i) => 100_000 + i), ...Array.from({ length: 16 }, (_, i) => i)];
    assert.deepEqual(kthenaBlockHashes(ids, 16, 128), [RANGE_16, FROM_100000, RANGE_16], 'not chained: equal blocks hash equal');
    assert.deepEqual(kthenaBlockHashes(new Array<number>(16).fill(4294967295), 16, 128), [MAX_ID_16]);
  });

  it('drops the partial last block and stops at maxBlocks', () => {
    const ids = Array.from({ length: 16 * 5 + 7 }, (_, i) => i % 16);
    assert.equal(kthenaBlockHashes(ids, 16, 128).length, 5);
    assert.equal(kthenaBlockHashes(ids, 16, 3).length, 3);
    assert.deepEqual(kthenaBlockHashes(ids.slice(0, 15), 16, 128), []);
  });

  it('lays the keys out block by block, each under every model name', () => {
    assert.deepEqual(kthenaBlockKeys(['1', '2'], ['m', 'org/served']), [
      'matrix:kv:block:m@1', 'matrix:kv:block:org/served@1', 'matrix:kv:block:m@2', 'matrix:kv:block:org/served@2',
    ]);
    assert.equal(kthenaOwner('vllm-0', 'default'), 'vllm-0.default');
  });
});

describe("Kthena's owner match", () => {
  const candidates = new Map([['a.ns', 0], ['b.ns', 1000], ['c.ns', 0]]);

  it('counts each candidate owner\'s run from block 0 and ignores other owners', () => {
    const replies: Record<string, string>[] = [
      { 'a.ns': '1', 'b.ns': '2000', 'x.other': '5' },
      { 'a.ns': '1', 'b.ns': '2000', 'x.other': '5' },
      { 'a.ns': '1' },
      { 'b.ns': '2000' },
    ];
    assert.deepEqual([...matchOwners(replies, 1, candidates)].sort(), [['a.ns', 3], ['b.ns', 2]]);
  });

  it('only owners of block 0 match at all', () => {
    const replies: Record<string, string>[] = [{ 'a.ns': '1' }, { 'a.ns': '1', 'c.ns': '1' }, { 'c.ns': '1' }];
    assert.deepEqual([...matchOwners(replies, 1, candidates)], [['a.ns', 2]]);
    assert.equal(matchOwners([{}, { 'a.ns': '1' }], 1, candidates).size, 0);
  });

  it('drops ownership written at or before the pod\'s containers started', () => {
    assert.equal(matchOwners([{ 'b.ns': '1000' }], 1, candidates).size, 0, 'the same second counts as before');
    assert.equal(matchOwners([{ 'b.ns': '999' }], 1, candidates).size, 0);
    assert.deepEqual([...matchOwners([{ 'b.ns': '1001' }, { 'b.ns': '999' }], 1, candidates)], [['b.ns', 1]], 'a stale block ends the run');
    assert.deepEqual([...matchOwners([{ 'b.ns': '1.5e3x' }], 1, candidates)], [['b.ns', 1]], 'an unparsable time is kept');
  });

  it('a block counts when any model name\'s key lists the owner', () => {
    // Two names per block: [block0/m, block0/served, block1/m, block1/served].
    const replies: Record<string, string>[] = [{ 'a.ns': '1' }, {}, {}, { 'a.ns': '1' }];
    assert.deepEqual([...matchOwners(replies, 2, candidates)], [['a.ns', 2]]);
  });
});
