import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { promptBlockHashes } from './block-hash.ts';
import { PodBlockIndex } from './block-index.ts';
import { decodeKvEventBatch, KvWireError } from './wire.ts';

const tokens = Array.from({ length: 48 }, (_, i) => 1000 + i);

describe('KV event batches as vLLM encodes them', () => {
  it('reads the array form (vLLM ≤ 0.10) with integer hashes', () => {
    const payload = encode([1.5, [['BlockStored', [11, 12], null, tokens.slice(0, 32), 16, null, 'GPU'], ['BlockRemoved', [12], 'GPU'], ['AllBlocksCleared']], 0]);
    const batch = decodeKvEventBatch(payload);
    assert.equal(batch.ts, 1.5);
    assert.deepEqual(batch.events, [
      { kind: 'stored', blockHashes: ['11', '12'], parentBlockHash: null, tokenIds: tokens.slice(0, 32), blockSize: 16, lora: null, medium: 'GPU' },
      { kind: 'removed', blockHashes: ['12'], medium: 'GPU' },
      { kind: 'cleared' },
    ]);
  });

  it('reads the map form (newer vLLM) with byte hashes, 64-bit integers and lora_name', () => {
    const big = 18446744073709551615n;
    const payload = encode(
      { ts: 2, events: [{ type: 'BlockStored', block_hashes: [Uint8Array.of(1, 2), big], parent_block_hash: Uint8Array.of(9), token_ids: tokens.slice(0, 32), block_size: 16, lora_id: 3, medium: null, lora_name: 'sql' }], data_parallel_rank: 0 },
      { useBigInt64: true },
    );
    const [event] = decodeKvEventBatch(payload).events;
    assert.deepEqual(event, { kind: 'stored', blockHashes: ['x0102', big.toString()], parentBlockHash: 'x09', tokenIds: tokens.slice(0, 32), blockSize: 16, lora: 'sql', medium: null });
  });

  it('refuses what is not a batch', () => {
    assert.throws(() => decodeKvEventBatch(encode('nope')), KvWireError);
    assert.throws(() => decodeKvEventBatch(encode([0, [['Unknown']]])), /unknown event type/);
    assert.throws(() => decodeKvEventBatch(Uint8Array.of(0xc1)), KvWireError);
  });
});

describe('PodBlockIndex', () => {
  it('chains blocks by token ids across events, keeps adapters apart, forgets removed and cleared blocks', () => {
    const index = new PodBlockIndex();
    const hashes = promptBlockHashes(tokens, 16, 128, null);
    index.apply({ kind: 'stored', blockHashes: ['a'], parentBlockHash: null, tokenIds: tokens.slice(0, 16), blockSize: 16, lora: null, medium: 'GPU' });
    index.apply({ kind: 'stored', blockHashes: ['b', 'c'], parentBlockHash: 'a', tokenIds: tokens.slice(16, 48), blockSize: 16, lora: null, medium: 'GPU' });
    assert.equal(index.matchRun(hashes), 3);
    assert.equal(index.matchRun(promptBlockHashes(tokens, 16, 128, 'sql')), 0, 'an adapter does not see base-model blocks');
    index.apply({ kind: 'removed', blockHashes: ['b'], medium: 'GPU' });
    assert.equal(index.matchRun(hashes), 1, 'a run stops at a removed block');
    index.apply({ kind: 'stored', blockHashes: ['z'], parentBlockHash: 'unknown', tokenIds: tokens.slice(0, 16), blockSize: 16, lora: null, medium: 'GPU' });
    assert.equal(index.orphans, 1, 'a block whose parent was never seen cannot be placed');
    index.apply({ kind: 'stored', blockHashes: ['cpu'], parentBlockHash: null, tokenIds: tokens.slice(0, 16), blockSize: 16, lora: 'sql', medium: 'CPU' });
    assert.equal(index.matchRun(promptBlockHashes(tokens, 16, 128, 'sql')), 0, 'CPU-tier blocks are not indexed');
    index.apply({ kind: 'cleared' });
    assert.equal(index.size, 0);
  });
});
