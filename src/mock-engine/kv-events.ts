// The mock's KV event publisher, as vLLM's ZmqEventPublisher: a ZeroMQ PUB socket sending [topic, 8-byte
// big-endian sequence number, msgpack KVEventBatch] and a ROUTER replay socket that answers a sequence number with
// every buffered batch from there on, then sequence -1. Batches use the array form ([ts, [events]]; BlockStored =
// ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, lora_name]). The events
// are the simulator's real prefix-cache registrations and evictions, gathered into one batch per event-loop turn.
// Test hooks make the router's recovery testable: `drop(n)` leaves the next n batches unsent (replayable), with
// `forget` also out of the replay buffer (unrecoverable).
import { encode } from '@msgpack/msgpack';
import { Publisher, Router } from 'zeromq';
import type { KvCacheListener } from './simulator/kv-cache.ts';
import { tokenIdOf } from './tokenize.ts';

export interface KvEventsOptions {
  readonly host: string;
  /** PUB port; 0 = any free port. */
  readonly port: number;
  /** Replay ROUTER port; 0 = any free port; null = no replay socket. */
  readonly replayPort: number | null;
  readonly blockSize: number;
  /** Batches kept for replay (vLLM's buffer_steps). */
  readonly bufferSteps?: number;
}

type EncodedEvent = readonly unknown[];

const END_OF_REPLAY = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export class MockKvEventPublisher implements KvCacheListener {
  readonly #pub = new Publisher({ linger: 0 });
  readonly #replay: Router | null;
  readonly #options: KvEventsOptions;
  readonly #buffer: { seq: number; payload: Uint8Array }[] = [];
  readonly #adapterIds = new Map<string, number>();
  #pending: EncodedEvent[] = [];
  #flushScheduled = false;
  #nextSeq = 0;
  #drop = 0;
  #forget = false;
  #closed = false;
  #sending: Promise<void> = Promise.resolve();
  port = 0;
  replayPort: number | null = null;
  /** Batches published (or dropped on purpose), for tests. */
  published = 0;

  constructor(options: KvEventsOptions) {
    this.#options = options;
    this.#replay = options.replayPort === null ? null : new Router({ linger: 0 });
  }

  async start(): Promise<void> {
    await this.#pub.bind(`tcp://${this.#options.host}:${this.#options.port}`);
    this.port = portOf(this.#pub.lastEndpoint);
    if (this.#replay !== null) {
      await this.#replay.bind(`tcp://${this.#options.host}:${this.#options.replayPort ?? 0}`);
      this.replayPort = portOf(this.#replay.lastEndpoint);
      void this.#serveReplay(this.#replay);
    }
  }

  stored(hash: string, parent: string | null, tokens: readonly string[], adapter: string | null): void {
    const loraId = adapter === null ? null : this.#adapterId(adapter);
    this.#push(['BlockStored', [Buffer.from(hash, 'hex')], parent === null ? null : Buffer.from(parent, 'hex'), tokens.map(tokenIdOf), this.#options.blockSize, loraId, 'GPU', adapter]);
  }

  removed(hashes: readonly string[]): void {
    this.#push(['BlockRemoved', hashes.map((hash) => Buffer.from(hash, 'hex')), 'GPU']);
  }

  /** The next `count` batches are not sent on the PUB socket; with `forget`, they are not replayable either. */
  drop(count: number, forget: boolean): void {
    this.#drop = count;
    this.#forget = forget;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#sending.catch(() => undefined);
    this.#pub.close();
    this.#replay?.close();
  }

  #adapterId(adapter: string): number {
    let id = this.#adapterIds.get(adapter);
    if (id === undefined) this.#adapterIds.set(adapter, (id = this.#adapterIds.size + 1));
    return id;
  }

  #push(event: EncodedEvent): void {
    if (this.#closed) return;
    this.#pending.push(event);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#closed || this.#pending.length === 0) return;
    const payload = encode([Date.now() / 1000, this.#pending]);
    this.#pending = [];
    const seq = this.#nextSeq++;
    this.published++;
    const dropped = this.#drop > 0;
    if (dropped) this.#drop--;
    if (!(dropped && this.#forget)) {
      this.#buffer.push({ seq, payload });
      if (this.#buffer.length > (this.#options.bufferSteps ?? 10_000)) this.#buffer.shift();
    }
    if (dropped) return;
    const seqFrame = Buffer.alloc(8);
    seqFrame.writeBigInt64BE(BigInt(seq));
    this.#sending = this.#sending.then(() => this.#pub.send(['', seqFrame, payload])).catch(() => undefined);
  }

  async #serveReplay(router: Router): Promise<void> {
    try {
      for await (const [client, , start] of router) {
        if (start === undefined || start.length !== 8) continue;
        const from = Number(start.readBigInt64BE(0));
        for (const { seq, payload } of this.#buffer) {
          if (seq < from) continue;
          const seqFrame = Buffer.alloc(8);
          seqFrame.writeBigInt64BE(BigInt(seq));
          await router.send([client, '', seqFrame, payload]);
        }
        await router.send([client, '', END_OF_REPLAY, '']);
      }
    } catch {
      // closed
    }
  }
}

function portOf(endpoint: string | null): number {
  const match = /:(\d+)$/.exec(endpoint ?? '');
  return match === null ? 0 : Number(match[1]);
}
