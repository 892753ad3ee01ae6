// vLLM's KV event wire format (vllm/distributed/kv_events.py), which SGLang's publisher copies. A ZeroMQ PUB
// message is three frames: topic, an 8-byte big-endian sequence number, and a msgpack KVEventBatch. Batches and
// events are msgspec structs, encoded either as arrays (vLLM up to 0.10: [ts, [events], dp_rank?], each event
// [tag, fields…]) or as maps (newer vLLM: {ts, events, data_parallel_rank}, each event {type: tag, field: …});
// both are read. Block hashes are ints (older) or bytes (newer): both become opaque string keys.
import { Decoder } from '@msgpack/msgpack';

export interface BlockStoredEvent {
  readonly kind: 'stored';
  /** The engine's block hashes, as opaque keys, in chain order. */
  readonly blockHashes: readonly string[];
  readonly parentBlockHash: string | null;
  /** Token ids of all these blocks, concatenated. */
  readonly tokenIds: readonly number[];
  readonly blockSize: number;
  /** The adapter: its name when the engine sends it, else `#<lora_id>`; null for base-model blocks. */
  readonly lora: string | null;
  readonly medium: string | null;
}

export interface BlockRemovedEvent {
  readonly kind: 'removed';
  readonly blockHashes: readonly string[];
  readonly medium: string | null;
}

export type KvEvent = BlockStoredEvent | BlockRemovedEvent | { readonly kind: 'cleared' };

export interface KvEventBatch {
  readonly ts: number;
  readonly events: readonly KvEvent[];
}

export class KvWireError extends Error {}

const decoder = new Decoder({ useBigInt64: true });

/** Reads one batch payload; throws KvWireError when it is not a KVEventBatch. */
export function decodeKvEventBatch(payload: Uint8Array): KvEventBatch {
  let value: unknown;
  try {
    value = decoder.decode(payload);
  } catch (err) {
    throw new KvWireError(`not msgpack: ${(err as Error).message}`);
  }
  let ts: unknown;
  let events: unknown;
  if (Array.isArray(value)) [ts, events] = value as unknown[];
  else if (isMap(value)) ({ ts, events } = value);
  else throw new KvWireError('a KVEventBatch must be an array or a map');
  if (!Array.isArray(events)) throw new KvWireError('KVEventBatch.events must be a list');
  return { ts: toNumber(ts) ?? 0, events: (events as unknown[]).map(decodeEvent) };
}

function decodeEvent(raw: unknown): KvEvent {
  let tag: unknown;
  let field: (name: string, position: number) => unknown;
  if (Array.isArray(raw)) {
    const items = raw as unknown[];
    tag = items[0];
    field = (_name, position) => items[position];
  } else if (isMap(raw)) {
    tag = raw.type;
    field = (name) => raw[name];
  } else {
    throw new KvWireError('an event must be an array or a map');
  }
  switch (tag) {
    case 'BlockStored': {
      const tokenIds = field('token_ids', 3);
      if (!Array.isArray(tokenIds)) throw new KvWireError('BlockStored.token_ids must be a list');
      const blockSize = toNumber(field('block_size', 4));
      if (blockSize === null || blockSize < 1) throw new KvWireError('BlockStored.block_size must be a positive integer');
      const loraName = field('lora_name', 7);
      const loraId = toNumber(field('lora_id', 5));
      return {
        kind: 'stored',
        blockHashes: hashList(field('block_hashes', 1), 'BlockStored'),
        parentBlockHash: optionalHash(field('parent_block_hash', 2)),
        tokenIds: (tokenIds as unknown[]).map((id) => toNumber(id) ?? 0),
        blockSize,
        lora: typeof loraName === 'string' && loraName !== '' ? loraName : loraId !== null && loraId !== 0 ? `#${loraId}` : null,
        medium: optionalString(field('medium', 6)),
      };
    }
    case 'BlockRemoved':
      return { kind: 'removed', blockHashes: hashList(field('block_hashes', 1), 'BlockRemoved'), medium: optionalString(field('medium', 2)) };
    case 'AllBlocksCleared':
      return { kind: 'cleared' };
    default:
      throw new KvWireError(`unknown event type ${JSON.stringify(typeof tag === 'bigint' ? String(tag) : tag)}`);
  }
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return null;
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** An engine block hash as a Map key: ints in decimal, bytes in hex. */
export function hashKey(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  throw new KvWireError('a block hash must be an integer or bytes');
}

function optionalHash(value: unknown): string | null {
  return value === null || value === undefined ? null : hashKey(value);
}

function hashList(value: unknown, event: string): string[] {
  if (!Array.isArray(value)) throw new KvWireError(`${event}.block_hashes must be a list`);
  return (value as unknown[]).map(hashKey);
}
