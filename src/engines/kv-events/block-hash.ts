// The router's own chained hash of KV blocks, computed from token ids: block k's hash covers blocks 0..k and the
// LoRA adapter they were computed with. Both sides use it: the block index hashes the token ids that KV events
// carry, the kvcache-aware plugin hashes the prompt's token ids, so the engine's own hash function (which differs
// between engines and versions) never needs reproducing. 53-bit results: usable as Map keys without allocation.

const TWO_32 = 4294967296;

/** Hash of the empty prefix: base-model blocks and each adapter's blocks form separate chains. */
export function rootHash(lora: string | null): number {
  let h1 = 0x2545f491;
  let h2 = 0x9e3779b9;
  const text = lora === null ? '' : `lora:${lora}`;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  return finish(h1, h2);
}

/** Hash of the block `tokens[start, end)` chained on its parent block's hash. */
export function chainHash(parent: number, tokens: ArrayLike<number>, start: number, end: number): number {
  let h1 = 0xdeadbeef ^ (parent % TWO_32);
  let h2 = 0x41c6ce57 ^ Math.floor(parent / TWO_32);
  for (let i = start; i < end; i++) {
    const id = tokens[i] >>> 0;
    h1 = Math.imul(h1 ^ id, 2654435761);
    h2 = Math.imul(h2 ^ id, 1597334677);
  }
  h1 = Math.imul(h1 ^ (end - start), 2246822507);
  return finish(h1, h2);
}

function finish(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return TWO_32 * (2097151 & h2) + (h1 >>> 0);
}

/** Chained hashes of the first `maxBlocks` full blocks of `tokens`. */
export function promptBlockHashes(tokens: ArrayLike<number>, blockSize: number, maxBlocks: number, lora: string | null): Float64Array {
  const count = Math.min(maxBlocks, Math.floor(tokens.length / blockSize));
  const hashes = new Float64Array(count);
  let parent = rootHash(lora);
  for (let k = 0; k < count; k++) {
    parent = chainHash(parent, tokens, k * blockSize, (k + 1) * blockSize);
    hashes[k] = parent;
  }
  return hashes;
}
