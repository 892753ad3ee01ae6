// Kthena's KV block keys, as its runtime sidecar writes them and its kvcache-aware plugin reads them: a prompt's
// token ids cut into blocks of `blockSize`, each block hashed on its own (not chained): SHA-256 over the ids as
// big-endian uint32, the first 8 bytes as a big-endian integer with the top bit cleared, in decimal; the key is
// `matrix:kv:block:{model}@{hash}`. Only full blocks: engines store no partial block, so the sidecar never writes one.
import { hash } from 'node:crypto';

export const KTHENA_BLOCK_KEY_PREFIX = 'matrix:kv:block:';

const TOP_BIT_CLEAR = 0x7fffffffffffffffn;

/** Kthena's hashes (decimal strings) of the first `maxBlocks` full blocks of `tokens`. */
export function kthenaBlockHashes(tokens: ArrayLike<number>, blockSize: number, maxBlocks: number): string[] {
  const count = Math.min(maxBlocks, Math.floor(tokens.length / blockSize));
  const bytes = Buffer.allocUnsafe(count * blockSize * 4);
  for (let i = 0; i < count * blockSize; i++) bytes.writeUInt32BE(tokens[i] >>> 0, i * 4);
  const hashes = new Array<string>(count);
  const blockBytes = blockSize * 4;
  for (let k = 0; k < count; k++) {
    const digest = hash('sha256', bytes.subarray(k * blockBytes, (k + 1) * blockBytes), 'buffer');
    hashes[k] = (digest.readBigUInt64BE(0) & TOP_BIT_CLEAR).toString();
  }
  return hashes;
}

/**
 * The Redis keys of `hashes` under each of `models`, block by block: key `block * models.length + j` is block
 * `block` under `models[j]`.
 */
export function kthenaBlockKeys(hashes: readonly string[], models: readonly string[]): string[] {
  const keys = new Array<string>(hashes.length * models.length);
  for (let k = 0; k < hashes.length; k++) {
    for (let j = 0; j < models.length; j++) keys[k * models.length + j] = `${KTHENA_BLOCK_KEY_PREFIX}${models[j]}@${hashes[k]}`;
  }
  return keys;
}

/** The owner field the sidecar writes for a pod (`--pod $(POD_NAME).$(NAMESPACE)` in Kthena's manifests). */
export function kthenaOwner(name: string, namespace: string): string {
  return `${name}.${namespace}`;
}

/**
 * Kthena's match: how many blocks from the first each candidate owner holds without a break. `replies` are the
 * HGETALL answers (owner → unix write time) laid out as kthenaBlockKeys lays out the keys, `models` names per block;
 * a block counts for an owner when any of its model keys lists it. `candidates` maps each candidate owner to its
 * containers' last start (unix seconds, 0 when unknown): an ownership written at or before it predates a restart
 * and is dropped (both sides in whole seconds, so a write in the same second is dropped too, as Kthena does).
 * Owners that are not candidates are ignored; only owners of block 0 can match at all.
 */
export function matchOwners(
  replies: readonly Readonly<Record<string, string>>[],
  models: number,
  candidates: ReadonlyMap<string, number>,
): Map<string, number> {
  const matched = new Map<string, number>();
  const blocks = Math.floor(replies.length / models);
  if (blocks === 0) return matched;
  for (let j = 0; j < models; j++) {
    const owners = replies[j];
    for (const owner in owners) {
      if (!matched.has(owner) && candidates.has(owner) && fresh(owners[owner], candidates.get(owner)!)) matched.set(owner, 1);
    }
  }
  for (let k = 1; k < blocks && matched.size > 0; k++) {
    let active = 0;
    for (const [owner, run] of matched) {
      if (run !== k) continue;
      if (ownsBlock(replies, k, models, owner, candidates.get(owner)!)) {
        matched.set(owner, k + 1);
        active++;
      }
    }
    if (active === 0) break;
  }
  return matched;
}

function ownsBlock(replies: readonly Readonly<Record<string, string>>[], block: number, models: number, owner: string, startedAt: number): boolean {
  for (let j = 0; j < models; j++) {
    const writtenAt = replies[block * models + j][owner];
    if (writtenAt !== undefined && fresh(writtenAt, startedAt)) return true;
  }
  return false;
}

/** An unparsable write time is kept, as Kthena keeps it (a future format must not drop every owner at once). */
function fresh(writtenAt: string, startedAt: number): boolean {
  if (startedAt === 0) return true;
  const written = Number(writtenAt);
  return !Number.isInteger(written) || written > startedAt;
}
